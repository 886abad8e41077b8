"""Operations commands: stats, health, check-stuck, validate, backup and restore.

Exit codes are for scripts and probes: 0 all good, 1 something needs attention (unhealthy,
stuck, failing validation), 2 bad input or configuration (the message names it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from queue_router.cli.migration import open_migrator
from queue_router.cli.parsers import command as add_command
from queue_router.cli.tables import print_table
from queue_router.config import Settings
from queue_router.errors import ConfigError, StartupError
from queue_router.migration.migrate import Migrator
from queue_router.ops import backup as backups
from queue_router.ops import readings
from queue_router.workers.temporal import connect_worker_client

__all__ = ["register"]


@contextlib.asynccontextmanager
async def _connected(settings: Settings) -> AsyncIterator[tuple[Migrator, Client]]:
    async with open_migrator(settings) as migrator:
        yield migrator, await connect_worker_client(settings)


def _queues(args: argparse.Namespace, settings: Settings) -> list[str]:
    for name in args.queue or []:
        settings.queue(name)  # UnknownQueueError with "did you mean"
    return list(args.queue) if args.queue else settings.queue_names()


def _print(rows: list[dict[str, Any]], as_json: bool, empty: str = "nothing to report") -> None:
    if as_json:
        print(json.dumps(rows, indent=2, default=str))
    else:
        print_table(rows, empty=empty)


def _run(job: Callable[[], Coroutine[Any, Any, int]]) -> int:
    return asyncio.run(job())


def cmd_stats(args: argparse.Namespace) -> int:
    settings = Settings.from_env()

    async def run() -> int:
        async with open_migrator(settings) as migrator:
            client, error = None, None
            try:
                client = await connect_worker_client(settings)
            except StartupError as exc:  # the Redis side is still worth seeing
                error = str(exc)
            _print(await readings.stats(migrator, client, _queues(args, settings)), args.json)
        if error is not None:
            print(f"queue-router: {error}; Temporal columns left empty", file=sys.stderr)
            return 1
        return 0

    return _run(run)


def cmd_health(args: argparse.Namespace) -> int:
    settings = Settings.from_env()

    async def run() -> int:
        async with open_migrator(settings) as migrator:
            client, error = None, None
            try:
                client = await connect_worker_client(settings)
            except StartupError as exc:
                error = str(exc)
            checks = await readings.health(migrator.redis, client, error, settings.task_queues())
            checks.append(await readings.shadow_handoff(
                migrator.redis, backlog_max=settings.routing.shadow_backlog_max,
                backlog_max_bytes=settings.routing.shadow_backlog_max_bytes,
                stale_s=2 * settings.worker.shadow_retry_ms / 1000,
            ))  # fmt: skip
        _print(checks, args.json)
        return 0 if all(c["ok"] for c in checks) else 1

    return _run(run)


def cmd_check_stuck(args: argparse.Namespace) -> int:
    settings = Settings.from_env()

    async def run() -> int:
        async with _connected(settings) as (migrator, client):
            stuck = await readings.check_stuck(
                migrator, client, _queues(args, settings),
                running_longer_than=timedelta(seconds=args.older_than),
            )  # fmt: skip
        _print(stuck, args.json, "nothing stuck")
        return 1 if stuck else 0

    return _run(run)


def cmd_validate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()

    async def run() -> int:
        async with _connected(settings) as (migrator, client):
            rows = await readings.validate(
                migrator, client, _queues(args, settings),
                window=timedelta(minutes=args.window), max_rate_delta=args.max_rate_delta,
            )  # fmt: skip
        _print(rows, args.json)
        return 0 if all(r["ok"] for r in rows) else 1

    return _run(run)


def cmd_backup(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    settings.queue(args.queue)

    async def run() -> int:
        out = io.StringIO()
        async with open_migrator(settings) as migrator:
            count = await backups.backup(
                migrator.redis, settings.redis.bull_prefix, args.queue, out
            )
        await asyncio.to_thread(Path(args.out).write_text, out.getvalue(), encoding="utf-8")
        if args.json:
            print(json.dumps({"queue": args.queue, "jobs": count, "file": str(args.out)}))
        else:
            print(f"backed up {count} jobs of {args.queue!r} to {args.out}", file=sys.stderr)
        return 0

    return _run(run)


def cmd_restore(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    path = Path(args.input)
    if not path.is_file():
        raise ConfigError(f"restore: --in {path}: no such file")

    async def run() -> int:
        source = io.StringIO(await asyncio.to_thread(path.read_text, encoding="utf-8"))
        async with open_migrator(settings) as migrator:
            queue, count = await backups.restore(migrator.redis, source)
        if args.json:
            print(json.dumps({"queue": queue, "jobs": count, "file": str(path)}))
        else:
            print(f"restored {count} jobs into {queue!r}", file=sys.stderr)
        return 0

    return _run(run)


def register(sub: Any) -> None:
    def command(name: str, func: Callable[[argparse.Namespace], int], help_: str,
                example: str, queues: bool = True) -> argparse.ArgumentParser:  # fmt: skip
        parser = add_command(sub, name, func, help_, example)
        if queues:
            parser.add_argument("--queue", action="append", metavar="Q",
                                help="repeatable; default: every configured queue")  # fmt: skip
        return parser

    command("stats", cmd_stats, "depth by state in Bull/RQ and Temporal, mode and percentage",
            "queue-router stats --queue email-send --json")  # fmt: skip
    command("health", cmd_health, "Redis, Temporal + namespace, pollers; exit 0/1",
            "queue-router health || alert 'queue-router unhealthy'")  # fmt: skip
    stuck = command("check-stuck", cmd_check_stuck,
                    "active jobs with expired locks, workflows running too long; exit 0/1",
                    "queue-router check-stuck --older-than 3600")  # fmt: skip
    stuck.add_argument("--older-than", type=float, default=3600, metavar="SECONDS")
    check = command("validate", cmd_validate,
                    "compare legacy and Temporal depths and failure rates over a window",
                    "queue-router validate --window 60 --max-rate-delta 0.02")  # fmt: skip
    check.add_argument("--window", type=float, default=60, metavar="MINUTES")
    check.add_argument("--max-rate-delta", type=float, default=0.05,
                       help="Temporal's failure rate may exceed legacy's by this much")  # fmt: skip
    save = command("backup", cmd_backup, "write a Bull queue's jobs as JSON lines",
                   "queue-router backup --queue email-send --out email-send.jsonl",
                   queues=False)  # fmt: skip
    save.add_argument("--queue", required=True)
    save.add_argument("--out", required=True, metavar="FILE")
    load = command("restore", cmd_restore, "restore a backup into a Redis without that queue",
                   "queue-router restore --in email-send.jsonl", queues=False)  # fmt: skip
    load.add_argument("--in", dest="input", required=True, metavar="FILE")
