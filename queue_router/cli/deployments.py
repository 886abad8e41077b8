"""``worker-ramp``: move Temporal's work from one worker build to the next, by evidence.

The router's ``rollout`` moves jobs from the legacy queue to Temporal; this moves the
work Temporal has from the current worker build to a new one, through the Worker
Deployment's ramping and current versions. Both use the same loop and checks
(``evidence.controller``); one controller each may run at once.

Exit codes: 0 the new build is current and healthy (or ``--rollback`` done); 1 the ramp
was undone by a failed check; 2 bad input, or this ramp is already run elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from queue_router.cli.parsers import command
from queue_router.cli.rollout import add_ramp_arguments, thresholds
from queue_router.config import Settings
from queue_router.control import RuntimeControl, who
from queue_router.errors import ConfigError
from queue_router.evidence.build_ramp import BuildRamp, Deployment
from queue_router.evidence.controller import Ramp, json_line, text_line
from queue_router.telemetry.metrics_server import MetricsServer
from queue_router.wiring import control_client
from queue_router.workers.temporal import connect_worker_client

__all__ = ["register"]


def cmd_worker_ramp(args: argparse.Namespace) -> int:
    settings = Settings.from_env()
    render = json_line if args.json else text_line
    metrics = MetricsServer(args.metrics_port) if args.metrics_port else None

    async def run() -> int:
        client = control_client(settings)
        temporal = await connect_worker_client(settings)
        deployment = Deployment(temporal, args.deployment_name)
        target = BuildRamp(deployment, args.build_id, RuntimeControl(client))
        try:
            if args.rollback:
                return await _rollback(deployment, target, args)
            ramp = Ramp(target, args.steps, args.every, thresholds(args), client,
                        dry_run=args.dry_run,
                        emit=lambda event: print(render(event), flush=True))  # fmt: skip
            return await ramp.run()
        finally:
            await client.aclose()

    try:
        return asyncio.run(run())
    finally:
        if metrics is not None:
            metrics.close()


async def _rollback(deployment: Deployment, target: BuildRamp, args: argparse.Namespace) -> int:
    """The previous build current again, at once (the ramp, if any, goes with it)."""
    routing = await deployment.routing()
    if routing.current != args.build_id and routing.ramping != args.build_id:
        raise ConfigError(
            f"build {args.build_id!r} is neither current nor ramping in deployment "
            f"{args.deployment_name!r} (current: {routing.current})"
        )
    await target.position()  # learns the build to go back to
    reason = args.reason or f"rollback of {args.build_id} by an operator"
    await target.undo(reason, f"worker-ramp {who()}")
    after = await deployment.routing()
    if args.json:
        print(json.dumps({"deployment": args.deployment_name, "current": after.current,
                          "ramping": after.ramping}))  # fmt: skip
    else:
        print(f"{args.deployment_name}: current build {after.current}, no ramp ({reason})")
    return 0


def register(sub: Any) -> None:
    ramp = command(sub, "worker-ramp", cmd_worker_ramp,
                   "ramp a new worker build of a Worker Deployment, by evidence",
                   "queue-router worker-ramp --deployment-name billing --build-id v2 "
                   "--steps 5,50,100 --every 10m")  # fmt: skip
    ramp.add_argument("--deployment-name", required=True, metavar="NAME")
    ramp.add_argument("--build-id", required=True, metavar="ID", help="the new build")
    add_ramp_arguments(ramp, default_steps=[5.0, 50.0, 100.0])
    ramp.add_argument("--rollback", action="store_true",
                      help="make the previous build current again, now")  # fmt: skip
    ramp.add_argument("--reason", help="for the audit trail (with --rollback)")
    ramp.add_argument("--metrics-port", type=int, metavar="PORT", help="serve /metrics")
