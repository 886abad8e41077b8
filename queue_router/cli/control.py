"""``set``, ``status`` and ``audit``: steer a rollout live, for every router instance at once."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
from typing import Any

from temporalio.service import RPCError

from queue_router.cli.parsers import command
from queue_router.cli.tables import print_table
from queue_router.config import Settings
from queue_router.control import GUARD, LiveState, RuntimeControl, who
from queue_router.errors import ConfigError, QueueRouterError
from queue_router.evidence.build_ramp import task_queue_builds
from queue_router.routing import Mode
from queue_router.wiring import control_client
from queue_router.workers.temporal import connect_worker_client

__all__ = ["register"]


def _percentage(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 100 or round(value, 2) != value:
        raise argparse.ArgumentTypeError(f"{text!r}: a percentage from 0 to 100, two decimals")
    return value


def _control(settings: Settings) -> RuntimeControl:
    return RuntimeControl(control_client(settings))


def cmd_set(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    config = settings.queue(args.queue)  # UnknownQueueError with "did you mean"
    if args.clear == (args.mode is not None or args.percentage is not None):
        raise ConfigError("give --mode and/or --percentage, or --clear alone")
    if args.mode is not None:
        live = config.with_live(args.mode, args.percentage)
        if live.legacy == "rq" and settings.redis.cluster_nodes():
            raise ConfigError(f"--mode rq: RQ does not run on Redis Cluster ({args.queue})")
    reason = args.reason or "set by an operator"

    async def run() -> dict[str, Any]:
        control = _control(settings)
        try:
            if args.clear:
                await control.clear(args.queue, reason=reason, by=who())
            else:
                await control.set(args.queue, mode=args.mode, percentage=args.percentage,
                                  reason=reason, by=who())  # fmt: skip
            state = await control.read()
        finally:
            await control.aclose()
        return next(row for row in _rows(settings, state) if row["queue"] == args.queue)

    row = asyncio.run(run())
    if args.json:
        print(json.dumps(row, indent=2))
    else:
        print(f"{args.queue}: {row['mode']} at {row['percentage']:g}% ({row['source']}); "
              "every router instance applies it within 2 s")  # fmt: skip
    return 0


def _rows(settings: Settings, state: LiveState) -> list[dict[str, Any]]:
    guard_open = (state.guard_open_until or 0) > datetime.datetime.now().timestamp()
    rows = []
    for name in settings.queue_names():
        live = state.queues.get(name)
        config = state.config_of(settings.queue(name))
        share = config.route("").percentage
        source, reason, updated = "env", "", None
        if live is not None:
            source, reason, updated = live.source, live.reason, live.updated_at
        if guard_open and share > 0:  # its Temporal share goes to legacy now
            source, reason, share = "guard", state.guard_reason, 0.0
        rows.append({
            "queue": name, "mode": config.mode.value, "percentage": share,
            "source": source, "reason": reason,
            "updated_at": _iso(updated) if updated else None, "task_queue": config.task_queue,
        })  # fmt: skip
    return rows


async def _builds(settings: Settings, task_queues: set[str]) -> dict[str, Any]:
    """Per task queue, the worker builds serving it and their shares, or why unknown."""
    try:
        client = await asyncio.wait_for(connect_worker_client(settings), 10)
        return {tq: await task_queue_builds(client, tq) for tq in sorted(task_queues)}
    except (QueueRouterError, RPCError, TimeoutError) as exc:
        return {tq: {"unknown": str(exc)} for tq in task_queues}


def _builds_line(task_queue: str, builds: dict[str, Any] | None) -> str:
    if builds is None:
        return f"{task_queue}: unversioned workers"
    if "unknown" in builds:
        return f"{task_queue}: worker builds unknown ({builds['unknown']})"
    text = f"{task_queue}: {builds['deployment']} current {builds['current']} "
    text += f"{builds['current_percentage']:g}%"
    if builds["ramping"]:
        text += f", ramping {builds['ramping']} {builds['ramping_percentage']:g}%"
    return text


def _iso(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


def cmd_status(args: argparse.Namespace) -> int:
    settings = Settings.from_env()

    async def read() -> LiveState:
        control = _control(settings)
        try:
            return await control.read()
        finally:
            await control.aclose()

    rows = _rows(settings, asyncio.run(read()))
    builds = asyncio.run(_builds(settings, {row["task_queue"] for row in rows}))
    for row in rows:
        row["builds"] = builds[row["task_queue"]]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print_table([{"queue": r["queue"], "mode": r["mode"], "temporal %": r["percentage"],
                  "source": r["source"], "reason": r["reason"]} for r in rows])  # fmt: skip
    print("\nworker builds per task queue:")
    for task_queue, found in sorted(builds.items()):
        print("  " + _builds_line(task_queue, found))
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    if args.queue != GUARD and not args.queue.startswith("deployment:"):
        settings.queue(args.queue)

    async def read() -> list[dict[str, Any]]:
        control = _control(settings)
        try:
            return await control.audit(args.queue, count=args.limit)
        finally:
            await control.aclose()

    entries = asyncio.run(read())
    if args.json:
        print(json.dumps([{**e, "at": _iso(e["at"])} for e in entries], indent=2))
        return 0
    for entry in entries:
        print(f"{_iso(entry['at'])}  {entry['by']:<24} {json.dumps(entry['old'])} -> "
              f"{json.dumps(entry['new'])}  ({entry['reason']})")  # fmt: skip
    if not entries:
        print(f"no changes recorded for {args.queue}")
    return 0


def register(sub: Any) -> None:
    change = command(
        sub, "set", cmd_set, "change a queue's mode/percentage live, for every router instance",
        "queue-router set email-send --percentage 25 --reason 'step 2 of 4'\n"
        "         queue-router set email-send --clear",
    )  # fmt: skip
    change.add_argument("queue")
    change.add_argument("--mode", choices=[m.value for m in Mode])
    change.add_argument("--percentage", type=_percentage, metavar="P")
    change.add_argument("--reason", help="why, for the audit trail")
    change.add_argument("--clear", action="store_true", help="back to the env values")
    command(sub, "status", cmd_status,
            "each queue's effective mode and percentage, and where they come from",
            "queue-router status --json")  # fmt: skip
    audit = command(sub, "audit", cmd_audit,
                    "every live change of a queue: when, old -> new, why, by whom",
                    "queue-router audit email-send --json")  # fmt: skip
    audit.add_argument("queue", help="a queue, __guard__, or deployment:<name> (worker-ramp)")
    audit.add_argument("--limit", type=int, default=100, help="latest N changes")
