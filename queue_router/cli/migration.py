"""The ``migrate`` and ``rollback`` commands: arguments, progress bar, summary table."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, TextIO

from queue_router.cli.tables import print_table
from queue_router.config import Settings
from queue_router.connections.redis_client import async_client
from queue_router.errors import ConfigError
from queue_router.migration.lists import ListMigration
from queue_router.migration.migrate import JobOutcome, MigrationPlan, MigrationReport, Migrator
from queue_router.migration.queues import MIGRATABLE_STATES
from queue_router.migration.rollback import rollback
from queue_router.telemetry.metrics_server import MetricsServer
from queue_router.wiring import temporal_backend

__all__ = ["open_migrator", "register"]

_STATES = (*MIGRATABLE_STATES, "prioritized")


class Progress:
    """A one-line bar with rate and ETA on a terminal; silent otherwise."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.started = time.monotonic()
        self.enabled = stream.isatty()

    def __call__(self, outcome: JobOutcome) -> None:
        self.done += 1
        if not self.enabled:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        total = max(self.total, self.done)
        eta = (total - self.done) / rate if rate else 0
        filled = int(30 * self.done / total) if total else 30
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{total} "
                          f"{rate:,.0f} jobs/s ETA {eta:,.0f}s ")  # fmt: skip
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")


@contextlib.asynccontextmanager
async def open_migrator(settings: Settings, **kwargs: Any) -> AsyncIterator[Migrator]:
    redis = settings.redis
    client = async_client(
        redis.redis_url, redis.redis_timeout_ms / 1000, retries=2, tls=redis.tls(),
        decode_responses=True, cluster_nodes=redis.cluster_nodes(),
    )  # fmt: skip
    temporal = temporal_backend(settings)
    migrator = Migrator(settings, client, temporal, **kwargs)
    try:
        yield migrator
    finally:
        await migrator.aclose()
        await client.aclose()


def _queues(args: argparse.Namespace, settings: Settings) -> list[str]:
    if args.all:
        return settings.queue_names()
    if not args.queue:
        raise ConfigError("name the queues with --queue Q (repeatable) or use --all")
    for name in args.queue:
        settings.queue(name)  # UnknownQueueError with "did you mean"
    return list(args.queue)


def _print_summary(report: MigrationReport, as_json: bool, verb: str) -> None:
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
        return
    per_queue: dict[str, Counter[str]] = {}
    for o in report.outcomes:
        per_queue.setdefault(o.queue, Counter())[o.outcome] += 1
    columns = [verb, "skipped", "invalid", "failed"]
    print_table([{"queue": queue, **{c: counts[c] for c in columns}}
                 for queue, counts in sorted(per_queue.items())], empty="no jobs")  # fmt: skip
    # every job a rollback restores is named (an operator checks them); otherwise problems
    shown = ("restored", "skipped", "invalid", "failed") if verb == "restored" else (
        "skipped", "invalid", "failed")  # fmt: skip
    listed = [o for o in report.outcomes if o.outcome in shown]
    limit = len(listed) if verb == "restored" else 50
    for o in listed[:limit]:
        print(f"  {o.outcome:<8} {o.queue}/{o.job_id} ({o.state}): {o.reason}")
    if len(listed) > limit:
        print(f"  ... and {len(listed) - limit} more (use --json for all)")
    elapsed = (report.finished or time.monotonic()) - report.started
    print(f"{len(report.outcomes)} jobs in {elapsed:.1f}s")


async def _preview(
    settings: Settings, queues: list[str], states: tuple[str, ...]
) -> dict[str, Any]:
    async with open_migrator(settings) as migrator:
        out: dict[str, Any] = {}
        for name in queues:
            config = settings.queue(name)
            if config.legacy == "list":
                drain = ListMigration(settings, config, migrator.redis, migrator.temporal)
                elements = await migrator.redis.lrange(config.list_key, -5, -1)
                out[name] = {"counts": await drain.counts(), "sample": [
                    {"data": _short(str(e))} for e in reversed(elements)]}  # fmt: skip
                continue
            queue = migrator.legacy_queue(config)
            sample = []
            for state in states:
                for job_id in (await queue.ids(state))[:5]:
                    job = await queue.read(job_id, state)
                    if job is not None:
                        sample.append({
                            "id": job_id, "state": state, "name": job.name,
                            "data": _short(json.dumps(job.data, default=str)),
                            "problem": job.problem,
                        })  # fmt: skip
            out[name] = {"counts": await queue.counts(), "sample": sample}
        return out


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    queues = _queues(args, settings)
    states = tuple(s.strip() for s in args.status_filter.split(",") if s.strip())
    unknown = [s for s in states if s not in _STATES]
    if unknown:
        raise ConfigError(
            f"--status-filter: unknown state(s) {unknown}; choose from {list(_STATES)}"
        )
    if args.preview:
        preview = asyncio.run(_preview(settings, queues, states))
        if args.json:
            print(json.dumps(preview, indent=2, default=str))
            return 0
        for name, found in preview.items():
            print_table([found["counts"]], title=f"{name}: jobs by state")
            print_table(found["sample"], title=f"{name}: a sample", empty="  (no jobs)")
        return 0
    lists = [q for q in queues if settings.queue(q).legacy == "list"]
    plan = MigrationPlan(
        queues=[q for q in queues if q not in lists], states=states,
        batch_size=args.batch_size or settings.migration.migration_batch_size,
        max_jobs=settings.migration.migration_max_jobs if args.max_jobs is None else args.max_jobs,
        batch_delay_ms=args.batch_delay, concurrency=args.concurrency,
        dry_run=args.dry_run or settings.migration.migration_dry_run,
    )  # fmt: skip

    async def run() -> MigrationReport:
        progress = Progress(0)
        async with open_migrator(settings, on_progress=progress) as migrator:
            jobs = await migrator.candidates(plan)
            progress.total = len(jobs)
            try:
                report = await migrator.run(plan, jobs)
                for name in lists:  # plain lists: drained element by element
                    drain = ListMigration(settings, settings.queue(name), migrator.redis,
                                          migrator.temporal)  # fmt: skip
                    progress.total += (await drain.counts())["waiting"]
                    report.outcomes.extend(await drain.run(
                        dry_run=plan.dry_run, concurrency=plan.concurrency,
                        max_jobs=plan.max_jobs or 0, on_outcome=progress))  # fmt: skip
                report.finished = time.monotonic()
                return report
            finally:
                progress.close()

    metrics = MetricsServer(args.metrics_port) if args.metrics_port else None
    try:
        report = asyncio.run(run())
    finally:
        if metrics is not None:
            metrics.close()
    _print_summary(report, args.json, "valid" if plan.dry_run else "moved")
    return 0 if report.ok else 1


def cmd_rollback(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    queues = _queues(args, settings)

    async def run() -> MigrationReport:
        lists = [q for q in queues if settings.queue(q).legacy == "list"]
        async with open_migrator(settings) as migrator:
            client = await migrator.temporal.client()
            report = await rollback(migrator, client, [q for q in queues if q not in lists],
                                    terminate=args.terminate, dry_run=args.dry_run,
                                    wait_s=args.wait)  # fmt: skip
            for name in lists:
                drain = ListMigration(settings, settings.queue(name), migrator.redis,
                                      migrator.temporal)  # fmt: skip
                restored = await drain.rollback(client, terminate=args.terminate,
                                                dry_run=args.dry_run, wait_s=args.wait)  # fmt: skip
                report.outcomes.extend(restored)
            return report

    report = asyncio.run(run())
    _print_summary(report, args.json, "restored")
    return 0 if report.ok else 1


def _queue_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--queue", action="append", metavar="Q", help="repeatable")
    parser.add_argument("--all", action="store_true", help="every configured queue")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.add_argument("--dry-run", action="store_true", help="check everything, write nothing")


def register(sub: Any) -> None:
    migrate = sub.add_parser(
        "migrate", help="move waiting/delayed/failed legacy jobs into Temporal workflows",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: queue-router migrate --queue email-send --status-filter waiting,failed "
               "--batch-size 100\n\nEach job leaves Redis only after its workflow start is "
               "confirmed; rerunning after a crash\nmigrates every job exactly once. Active "
               "jobs are left alone and reported.\nEnv: MIGRATION_DRY_RUN, MIGRATION_BATCH_SIZE, "
               "MIGRATION_MAX_JOBS. Exit 1 if any job failed.",
    )  # fmt: skip
    _queue_args(migrate)
    migrate.add_argument("--preview", action="store_true", help="counts and a sample only")
    migrate.add_argument("--batch-size", type=int, default=0, help="default 50")
    migrate.add_argument("--max-jobs", type=int, default=None, help="0 = all")
    migrate.add_argument("--status-filter", default="waiting",
                         help=f"comma list of {', '.join(_STATES)} (default waiting)")  # fmt: skip
    migrate.add_argument("--batch-delay", type=int, default=0, metavar="MS")
    migrate.add_argument("--concurrency", type=int, default=10)
    migrate.add_argument(
        "--metrics-port", type=int, metavar="PORT", help="serve /metrics while running"
    )
    migrate.set_defaults(func=cmd_migrate)
    back = sub.add_parser(
        "rollback", help="stop migrated workflows and put their jobs back",
        epilog="example: queue-router rollback --queue email-send --terminate",
    )  # fmt: skip
    _queue_args(back)
    back.add_argument("--terminate", action="store_true", help="terminate instead of cancel")
    back.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a cancel")
    back.set_defaults(func=cmd_rollback)
