"""``worker`` and ``rq-worker``: run the registered processors under Temporal or RQ."""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Any

from queue_router.config import Settings
from queue_router.telemetry.metrics_server import MetricsServer

__all__ = ["register"]


def cmd_worker(args: argparse.Namespace) -> int:
    from queue_router.workers.temporal import run_worker

    overrides = {"temporal_worker_build_id": args.build_id} if args.build_id else {}
    if args.deployment_name:
        overrides["temporal_worker_deployment_name"] = args.deployment_name
    settings = Settings.from_env(**overrides)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker(
            settings, stop=stop, queues=args.task_queue or None, metrics_port=args.metrics_port,
            paths=args.path or (),
        )  # fmt: skip

    asyncio.run(serve())
    return 0


def cmd_list_worker(args: argparse.Namespace) -> int:
    from queue_router.processors.registry import import_processor_modules
    from queue_router.workers.lists import ListWorker

    settings = Settings.from_env()
    worker = ListWorker(settings, args.queue)
    import_processor_modules(settings.worker.processor_modules, args.path or ())

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await worker.run(stop)

    asyncio.run(serve())
    return 0


def cmd_rq_worker(args: argparse.Namespace) -> int:
    from queue_router.workers.rq import run_rq_worker

    metrics = MetricsServer(args.metrics_port) if args.metrics_port else None
    try:
        run_rq_worker(Settings.from_env(), args.queue, burst=args.burst, paths=args.path or ())
    finally:
        if metrics is not None:
            metrics.close()
    return 0


def register(sub: Any) -> None:
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
    worker.add_argument("--deployment-name", metavar="NAME",
                        help="run versioned in this Worker Deployment (with --build-id); "
                             "overrides TEMPORAL_WORKER_DEPLOYMENT_NAME")  # fmt: skip
    worker.add_argument("--path", action="append", metavar="DIR",
                        help="also import processors from DIR")  # fmt: skip
    worker.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve /metrics: queue-router's and the Temporal SDK's")  # fmt: skip
    worker.set_defaults(func=cmd_worker)
    list_worker = sub.add_parser(
        "list-worker", help="run the processors on a plain Redis list queue (legacy: list)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: QUEUE_ROUTER_PROCESSORS=myapp.jobs queue-router list-worker --queue ingest"
               "\n\nEach element moves into this worker's processing list before it runs; a "
               "killed worker's\nelements go back on the list once its heartbeat "
               "(QUEUE_ROUTER_LIST_WORKER_HEARTBEAT_S) stops.",
    )  # fmt: skip
    list_worker.add_argument("--queue", required=True, help="a queue with legacy 'list'")
    list_worker.add_argument("--path", action="append", metavar="DIR",
                             help="also import processors from DIR")  # fmt: skip
    list_worker.set_defaults(func=cmd_list_worker)
    rq_worker = sub.add_parser(
        "rq-worker", help="run an RQ worker on the legacy queues",
        epilog="example: QUEUE_ROUTER_PROCESSORS=myapp.jobs "
               "queue-router rq-worker --queue email-send",
    )  # fmt: skip
    rq_worker.add_argument("--queue", action="append", required=True, metavar="NAME")
    rq_worker.add_argument("--burst", action="store_true", help="exit when the queues are empty")
    rq_worker.add_argument("--path", action="append", metavar="DIR",
                           help="also import processors from DIR")  # fmt: skip
    rq_worker.add_argument("--metrics-port", type=int, metavar="PORT", help="serve /metrics")
    rq_worker.set_defaults(func=cmd_rq_worker)
