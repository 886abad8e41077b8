"""``queue-router``: operator commands. Each subcommand's ``--help`` shows an example.

Commands:
    config   the resolved mode, percentage and workflow of every queue (from env vars)
    route    where a routing key goes on a queue now, with its bucket
    demo     enqueue jobs on real Redis + Temporal and print where they went
    worker     run the Temporal worker: catalogue workflows + registered processors
    rq-worker  run an RQ worker for the legacy path, with the same processors
    migrate    move legacy jobs into Temporal workflows (crash-safe, idempotent, ledgered)
    rollback   stop migrated workflows and put their jobs back, from the ledger
    stats / health / check-stuck / validate   operations views (exit 1 = needs attention)
    backup / restore   one Bull queue as JSON lines, restorable with identical job hashes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from queue_router.errors import QueueRouterError
from queue_router.migration.commands import add_commands as add_migration_commands
from queue_router.ops.commands import add_commands as add_ops_commands
from queue_router.settings import QueueConfig, Settings


def _effective(config: QueueConfig) -> float:
    """The share of keys whose primary is Temporal (100 in temporal mode, 0 in shadow...)."""
    return config.route("").percentage


def cmd_config(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    rows = [settings.queue(name) for name in settings.queue_names()]
    if args.json:
        print(json.dumps([
            {"queue": c.name, "mode": c.mode.value, "percentage": _effective(c),
             "legacy": c.legacy, "workflow_type": c.workflow_type, "task_queue": c.task_queue}
            for c in rows
        ], indent=2))  # fmt: skip
        return 0
    print(f"{'queue':<26}{'mode':<12}{'temporal %':>11}  {'legacy':<7}{'workflow':<22}task queue")
    for c in rows:
        print(f"{c.name:<26}{c.mode.value:<12}{_effective(c):>11g}  {c.legacy:<7}"
              f"{c.workflow_type:<22}{c.task_queue}")  # fmt: skip
    print(f"\nfallback to legacy on Temporal failure: {settings.bull_fallback}")
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    config = Settings.from_env().queue(args.queue)
    route = config.route(args.key)
    extra = f", also {route.secondary}" if route.secondary else ""
    extra += f", shadow copy on {route.shadow}" if route.shadow else ""
    print(f"{args.queue} key={args.key!r}: bucket {route.bucket}, mode {route.mode.value} "
          f"at {config.percentage:g}% -> {route.primary}{extra}")  # fmt: skip
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from queue_router.worker import run_worker

    overrides = {"temporal_worker_build_id": args.build_id} if args.build_id else {}
    settings = Settings.from_env(**overrides)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(settings, stop=stop, queues=args.task_queue or None)

    asyncio.run(serve())
    return 0


def cmd_rq_worker(args: argparse.Namespace) -> int:
    from queue_router.worker import run_rq_worker

    run_rq_worker(Settings.from_env(), args.queue, burst=args.burst)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="queue-router",
        description="Route background jobs between Bull/RQ and Temporal.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    config = sub.add_parser(
        "config", help="show each queue's resolved routing",
        epilog="example: TEMPORAL_TRAFFIC_PERCENTAGE=25 queue-router config --json",
    )  # fmt: skip
    config.add_argument("--json", action="store_true", help="machine-readable output")
    config.set_defaults(func=cmd_config)
    route = sub.add_parser(
        "route", help="show where a key goes now",
        epilog="example: queue-router route email-send user-42",
    )  # fmt: skip
    route.add_argument("queue")
    route.add_argument("key")
    route.set_defaults(func=cmd_route)
    worker = sub.add_parser(
        "worker", help="run the Temporal worker (SIGTERM/SIGINT: graceful stop)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: TEMPORAL_CLUSTER_URL=temporal:7233 "
               "QUEUE_ROUTER_PROCESSORS=myapp.jobs queue-router worker --task-queue queue-router"
               "\n\nOn SIGTERM it stops polling, lets running activities finish for "
               "QUEUE_ROUTER_WORKER_SHUTDOWN_GRACE_MS, then exits 0.",
    )  # fmt: skip
    worker.add_argument(
        "--task-queue", action="append", metavar="NAME",
        help="repeatable; default: TEMPORAL_TASK_QUEUE and the per-queue ones",
    )  # fmt: skip
    worker.add_argument("--build-id", help="overrides TEMPORAL_WORKER_BUILD_ID")
    worker.set_defaults(func=cmd_worker)
    rq_worker = sub.add_parser(
        "rq-worker", help="run an RQ worker on the legacy queues",
        epilog="example: QUEUE_ROUTER_PROCESSORS=myapp.jobs "
               "queue-router rq-worker --queue email-send",
    )  # fmt: skip
    rq_worker.add_argument("--queue", action="append", required=True, metavar="NAME")
    rq_worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    rq_worker.set_defaults(func=cmd_rq_worker)
    add_migration_commands(sub)
    add_ops_commands(sub)
    sub.add_parser("demo", help="enqueue demo jobs on real servers", add_help=False).set_defaults(
        func=None
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        from queue_router.demo import main as demo_main

        demo_main(argv[1:])
        return 0
    args = build_parser().parse_args(argv)
    log_format = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    logging.basicConfig(level=logging.INFO, format=log_format)
    try:
        return int(args.func(args))
    except QueueRouterError as exc:
        print(f"queue-router: error: {exc}", file=sys.stderr)
        return 2


def entry() -> NoReturn:
    """The console script: ``main()``, then exit without interpreter finalization.

    A process that used a Temporal client can abort while Python finalizes (the SDK's
    Rust threads call back into a dying interpreter; temporalio/sdk-python#300), which
    would turn a finished command into exit code -6. So once the command is done and
    its output flushed, the process leaves with ``os._exit``.
    """
    try:
        code = main()
    except SystemExit as exc:  # argparse: --help, usage errors
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
