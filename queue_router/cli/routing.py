"""``config`` and ``route``: what the env vars of this shell resolve to, and where a key goes."""

from __future__ import annotations

import argparse
import json
from typing import Any

from queue_router.cli.parsers import command
from queue_router.config import QueueConfig, Settings

__all__ = ["register"]


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
    print(f"\nfallback to legacy on Temporal failure: {settings.routing.bull_fallback}")
    return 0


def cmd_route(args: argparse.Namespace) -> int:
    config = Settings.from_env().queue(args.queue)
    route = config.route(args.key)
    if args.json:
        print(json.dumps({"queue": args.queue, "key": args.key, "bucket": route.bucket,
                          "mode": route.mode.value, "percentage": config.percentage,
                          "primary": route.primary, "secondary": route.secondary,
                          "shadow": route.shadow, "bucketing": route.bucketing}))  # fmt: skip
        return 0
    extra = f", also {route.secondary}" if route.secondary else ""
    extra += f", shadow copy on {route.shadow}" if route.shadow else ""
    print(f"{args.queue} key={args.key!r}: bucket {route.bucket}, mode {route.mode.value} "
          f"at {config.percentage:g}% -> {route.primary}{extra}")  # fmt: skip
    return 0


def register(sub: Any) -> None:
    command(sub, "config", cmd_config, "show each queue's resolved routing",
            "TEMPORAL_TRAFFIC_PERCENTAGE=25 queue-router config --json")  # fmt: skip
    route = command(sub, "route", cmd_route, "show where a key goes now",
                    "queue-router route email-send user-42 --json")  # fmt: skip
    route.add_argument("queue")
    route.add_argument("key")
