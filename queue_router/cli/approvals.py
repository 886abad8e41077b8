"""``import-approvals``: carry an old engine's in-flight approvals into Temporal.

Exit codes: 0 every line imported (or already there); 1 some lines were invalid (each
reported with its number, the rest imported); 2 the file or the settings are wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from rich.progress import Progress

from queue_router.cli.parsers import command
from queue_router.cli.tables import print_table
from queue_router.config import Settings
from queue_router.errors import ConfigError
from queue_router.migration.approvals import ImportResult, import_approvals, parse_lines
from queue_router.workers.temporal import connect_worker_client

__all__ = ["register"]


def cmd_import_approvals(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    path = Path(args.file)
    if not path.is_file():
        raise ConfigError(f"import-approvals: {path}: no such file")
    lines = path.read_text(encoding="utf-8").splitlines()
    total = len(parse_lines(lines))

    async def run() -> list[ImportResult]:
        client = await connect_worker_client(settings)
        with Progress(transient=True, disable=args.json or not sys.stderr.isatty()) as progress:
            task = progress.add_task("importing approvals", total=total)
            return await import_approvals(
                client, settings.temporal.temporal_task_queue, lines, dry_run=args.dry_run,
                on_result=lambda _: progress.advance(task),
            )  # fmt: skip

    results = asyncio.run(run())
    summary = {kind: sum(1 for r in results if r.outcome == kind)
               for kind in ("imported", "existing", "invalid", "would import")}  # fmt: skip
    if args.json:
        print(json.dumps({"summary": summary, "lines": [asdict(r) for r in results]}, indent=2))
    else:
        shown = results if args.dry_run else [r for r in results if r.outcome == "invalid"]
        if shown:
            print_table([asdict(r) for r in shown])
        print(", ".join(f"{count} {kind}" for kind, count in summary.items() if count)
              or "nothing to import")  # fmt: skip
    return 1 if summary["invalid"] else 0


def register(sub: Any) -> None:
    imp = command(sub, "import-approvals", cmd_import_approvals,
                  "start in-flight approvals of another engine as resumed workflows",
                  "queue-router import-approvals approvals.jsonl --dry-run")  # fmt: skip
    imp.add_argument("file", help="JSON lines, one approval each (see the README)")
    imp.add_argument("--dry-run", action="store_true",
                     help="print what would start and when; start nothing")  # fmt: skip
