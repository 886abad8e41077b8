"""``shadow-report``, ``rollout`` and ``reconcile``: decide a rollout by evidence.

Exit codes: 0 done and healthy; 1 needs attention (a rollout rolled back, a repair that
failed); 2 bad input, or the queue's rollout is already run by another controller.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time
from dataclasses import asdict
from typing import Any

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from queue_router.cli.parsers import command
from queue_router.config import Settings
from queue_router.connections.redis_client import tls_kwargs
from queue_router.contract import EnqueueRequest
from queue_router.errors import ConfigError
from queue_router.evidence.controller import Ramp, json_line, text_line
from queue_router.evidence.ledger import Evidence
from queue_router.evidence.queue_ramp import QueueRamp
from queue_router.evidence.reconcile import Repair, reconcile
from queue_router.evidence.rollout import Thresholds
from queue_router.wiring import backends_from_settings, control_client
from queue_router.workers.temporal import connect_worker_client
from workflows.envelope import workflow_id

__all__ = ["add_ramp_arguments", "duration", "register", "thresholds"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def duration(text: str) -> float:
    """``500ms``, ``2s``, ``10m``, ``1h``, ``7d`` (or bare seconds) as seconds."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)?", text.strip())
    if not match or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration such as 30s, 10m, 1h")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def _steps(text: str) -> list[float]:
    try:
        steps = [float(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: percentages such as 5,25,50,100") from None
    if not steps or any(not 0 < s <= 100 for s in steps) or steps != sorted(set(steps)):
        raise argparse.ArgumentTypeError(f"{text!r}: rising percentages in (0, 100]")
    return steps


def cmd_shadow_report(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    settings.queue(args.queue)
    since = time.time() - args.since if args.since else None

    async def read() -> dict[str, Any]:
        evidence = Evidence(control_client(settings))
        try:
            counts = await evidence.shadow_counts(args.queue, since)
            latest = await evidence.mismatches(args.queue, since, args.limit)
        finally:
            await evidence.aclose()
        return {
            "queue": args.queue, "since_s": args.since, "compared": counts.compared,
            "matched": counts.matched, "mismatched": counts.mismatched,
            "ignored": counts.ignored, "dropped": counts.dropped,
            "mismatch_rate": counts.mismatch_rate,
            "mismatches": [{"job_id": m.job_id, "legacy": m.legacy, "temporal": m.temporal,
                            "reason": m.reason, "at": m.at} for m in latest],
        }  # fmt: skip

    report = asyncio.run(read())
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    print(f"{report['queue']}: {report['compared']} compared, {report['matched']} matched, "
          f"{report['mismatched']} mismatched ({report['mismatch_rate']:.2%}), "
          f"{report['ignored']} ignored")  # fmt: skip
    if report["dropped"]:
        print(f"  {report['dropped']} shadow copies were dropped (in-flight bound) and never "
              "compared: the rate is over the copies that got through")  # fmt: skip
    for m in report["mismatches"]:
        print(f"  {m['job_id']}: {m['reason']}\n    legacy:   {json.dumps(m['legacy'])}\n"
              f"    temporal: {json.dumps(m['temporal'])}")  # fmt: skip
    return 0


def cmd_rollout(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    settings.queue(args.queue)
    limits = thresholds(args)
    render = json_line if args.json else text_line

    async def run() -> int:
        client = control_client(settings)
        try:
            ramp = Ramp(
                QueueRamp(settings, args.queue, client), args.steps, args.every, limits, client,
                dry_run=args.dry_run, emit=lambda event: print(render(event), flush=True),
            )  # fmt: skip
            return await ramp.run()
        finally:
            await client.aclose()

    code = asyncio.run(run())
    if not args.json:
        print(f"{args.queue}: " + ("rolled back to 0% (see above)" if code else
              f"reached {args.steps[-1]:g}% healthy"))  # fmt: skip
    return code


def cmd_reconcile(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    config = settings.queue(args.queue)
    if config.legacy == "rq" and settings.redis.cluster_nodes():
        raise ConfigError(f"{args.queue}: RQ does not run on Redis Cluster")

    async def run() -> list[Repair]:
        client = control_client(settings)
        backends = backends_from_settings(settings)
        temporal = await connect_worker_client(settings)
        rq_connection = None

        async def is_completed(holder: str, request: EnqueueRequest) -> bool:
            nonlocal rq_connection
            if holder == "temporal":
                handle = temporal.get_workflow_handle(request.workflow_id or workflow_id(
                    request.queue, request.job_id))  # fmt: skip
                try:
                    return (await handle.describe()).status == WorkflowExecutionStatus.COMPLETED
                except RPCError as exc:
                    if exc.status == RPCStatusCode.NOT_FOUND:
                        return False
                    raise
            if holder == "bull":
                key = f"{settings.redis.bull_prefix}:{request.queue}:completed"
                return await client.zscore(key, request.job_id) is not None
            return await asyncio.to_thread(_rq_finished, settings, request.job_id)

        evidence = Evidence(client)
        try:
            for backend in backends.values():
                await backend.startup()
            return await reconcile(
                args.queue, config.legacy, evidence, backends, is_completed,
                dry_run=args.dry_run,
                on_repair=lambda r: None if args.json else print(_repair_line(r), flush=True),
            )  # fmt: skip
        finally:
            for backend in backends.values():
                await backend.aclose()
            await client.aclose()

    repairs = asyncio.run(run())
    if args.json:
        print(json.dumps([asdict(r) | {"ok": r.ok} for r in repairs], indent=2))
    elif not repairs:
        print(f"{args.queue}: nothing to reconcile")
    return 0 if all(r.ok for r in repairs) else 1


def _rq_finished(settings: Settings, job_id: str) -> bool:
    connection = redis.Redis.from_url(settings.redis.redis_url, **tls_kwargs(settings.redis.tls()))
    try:
        job = Job.fetch(job_id, connection=connection, serializer=settings.redis.rq_serializer)
        return job.get_status() == JobStatus.FINISHED
    except NoSuchJobError:
        return False
    finally:
        connection.close()


def _repair_line(repair: Repair) -> str:
    return f"{repair.job_id}: {repair.missing} side {repair.action} {repair.detail}".rstrip()


def add_ramp_arguments(parser: argparse.ArgumentParser, default_steps: list[float]) -> None:
    """The steps, interval and health limits every ramp (queue or worker build) takes."""
    parser.add_argument("--steps", type=_steps, default=default_steps)
    parser.add_argument("--every", type=duration, default=600.0, metavar="DURATION")
    parser.add_argument("--max-error-ratio", type=float, default=2.0)
    parser.add_argument("--max-p99-ratio", type=float, default=5.0)
    parser.add_argument("--min-samples", type=int, default=50, help="jobs on each side")
    parser.add_argument("--error-floor", type=float, default=0.01,
                        help="error rate always allowed (0.01 = 1%%)")  # fmt: skip
    parser.add_argument("--p99-floor-ms", type=float, default=50.0,
                        help="p99 always allowed, in ms")  # fmt: skip
    parser.add_argument("--dry-run", action="store_true", help="print decisions, change nothing")


def thresholds(args: argparse.Namespace) -> Thresholds:
    return Thresholds(args.max_error_ratio, args.max_p99_ratio,
                      getattr(args, "max_mismatch_rate", 0.01), args.min_samples,
                      args.error_floor, args.p99_floor_ms)  # fmt: skip


def register(sub: Any) -> None:
    report = command(sub, "shadow-report", cmd_shadow_report,
                     "shadow comparisons of a queue: matched, mismatched, ignored, dropped",
                     "queue-router shadow-report email-send --since 1h --json")  # fmt: skip
    report.add_argument("queue")
    report.add_argument("--since", type=duration, metavar="DURATION", help="e.g. 30m, 24h")
    report.add_argument("--limit", type=int, default=10, help="latest N mismatches shown")
    roll = command(sub, "rollout", cmd_rollout,
                   "step a queue's Temporal share up while healthy; roll back by itself if not",
                   "queue-router rollout email-send --steps 5,25,50,100 --every 10m")  # fmt: skip
    roll.add_argument("queue")
    add_ramp_arguments(roll, default_steps=[5.0, 25.0, 50.0, 100.0])
    roll.add_argument("--max-mismatch-rate", type=float, default=0.01)
    fix = command(sub, "reconcile", cmd_reconcile,
                  "write the side each failed dual-write missed (same job id, once)",
                  "queue-router reconcile email-send --dry-run")  # fmt: skip
    fix.add_argument("queue")
    fix.add_argument("--dry-run", action="store_true", help="list what would be written")
