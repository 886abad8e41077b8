"""``queue-router``: operator commands. Each subcommand's ``--help`` shows an example.

Commands:
    config   the resolved mode, percentage and workflow of every queue (from env vars)
    route    where a routing key goes on a queue now, with its bucket
    set / status / audit   steer a rollout live (every router instance within 2 s)
    shadow-report / rollout / reconcile   decide a rollout by evidence: shadow comparison,
               a controller that steps up or rolls back by itself, dual-write repair
    demo     enqueue jobs on real Redis + Temporal and print where they went
    dev      run Redis and a Temporal dev server for your own app (prints the exports)
    worker     run the Temporal worker: the job workflow, pattern workflows, processors
    worker-ramp  ramp a new worker build of a Worker Deployment, by evidence
    rq-worker  run an RQ worker for the legacy path, with the same processors
    list-worker  run the processors on a plain Redis list queue
    migrate    move legacy jobs into Temporal workflows (crash-safe, idempotent, ledgered)
    rollback   stop migrated workflows and put their jobs back, from the ledger
    import-approvals   start another engine's in-flight approvals as resumed workflows
    stats / health / check-stuck / validate   operations views (exit 1 = needs attention)
    backup / restore   one Bull queue as JSON lines, restorable with identical job hashes
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from redis.exceptions import RedisError

from queue_router.cli import (
    approvals,
    control,
    deployments,
    dev,
    migration,
    ops,
    rollout,
    routing,
    workers,
)
from queue_router.connections.diagnose import short_reason
from queue_router.connections.redact import redact_url
from queue_router.errors import QueueRouterError

COMMANDS = (routing, control, rollout, workers, deployments, migration, approvals, ops, dev)
"""Each command module has ``register(subparsers)``: adding a command is adding a module here."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="queue-router",
        description="Route background jobs between Bull/RQ and Temporal.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Each command's --help shows an example; every operator command takes --json.\n"
        "Exit codes: 0 done, 1 needs attention, 2 bad input or configuration.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    sub.add_parser("demo", help="enqueue demo jobs on real servers", add_help=False).set_defaults(
        func=None
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["demo"]:
        from queue_router.testing.demo import main as demo_main

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
    except (RedisError, OSError) as exc:  # a command's Redis is not there: one line, no trace
        print(f"queue-router: error: cannot reach Redis at {_redis_target()}: "
              f"{short_reason(exc)}", file=sys.stderr)  # fmt: skip
        return 2


def _redis_target() -> str:
    """Where this shell's env points Redis, as the variable to fix (never the password)."""
    nodes = os.environ.get("REDIS_CLUSTER_NODES")
    if nodes:
        return f"REDIS_CLUSTER_NODES={nodes}"
    return f"REDIS_URL={redact_url(os.environ.get('REDIS_URL', 'redis://localhost:6379/0'))}"


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
