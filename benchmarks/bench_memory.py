"""Peak RSS of a router after 100k and after 1M enqueues, per mode: it must stay flat.

Each mode runs in a fresh process against in-memory backends that keep nothing (the
figure is the router's own memory: metrics, placement memory, shadow bookkeeping, log
summaries), the shadow mode with a slow shadow side (every copy waits 50 ms, so the
in-flight bound is always full and copies are dropped). ``bull on Redis`` writes every
job through the real Bull backend to a redis-server started here (the shared connection's
reply queue, corked writes and per-queue command heads are then in the figure too; the
jobs themselves are Redis's memory, not ours). ``shadow on Redis`` does the same and hands
every shadow copy off to that Redis, with no worker taking them: the stream fills to its
bound and the rest are dropped and counted. Prints the peak at each mark and the
growth between them; the target is within 10%.

    .venv/bin/python benchmarks/bench_memory.py [--jobs 1000000] [--mark 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys

from queue_router import Placement, QueueRouter, Settings
from queue_router.contract import Backend, EnqueueRequest
from queue_router.testing.devservers import RedisServer

MODES = {
    "bull": {"mode": "bull"},
    "temporal": {"mode": "temporal"},
    "percentage": {"mode": "percentage", "percentage": 50},
    "dual": {"mode": "dual"},
    "shadow": {"mode": "shadow"},
    "bull on Redis": {"mode": "bull"},
    "shadow on Redis": {"mode": "shadow"},
}
ON_REDIS = {"bull on Redis", "shadow on Redis"}


class Discard(Backend):
    """Takes every job and keeps none; ``latency_s`` makes it slow."""

    def __init__(self, name: str, latency_s: float = 0.0) -> None:
        self.name, self.latency_s = name, latency_s

    async def enqueue(self, request: EnqueueRequest) -> Placement:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        return Placement(backend=self.name, job_id=request.job_id)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def one_mode(mode: str, jobs: int, mark: int, redis_url: str) -> dict[str, float]:
    settings = Settings.from_env(redis_url=redis_url, queues={"email-send": MODES[mode]})
    slow = 0.05 if mode == "shadow" else 0.0
    backends: dict[str, Backend] | None = None  # on Redis: the real ones from the settings
    if mode not in ON_REDIS:
        backends = {"bull": Discard("bull"), "rq": Discard("rq"), "list": Discard("list"),
                    "temporal": Discard("temporal", slow)}  # fmt: skip
    peaks: dict[str, float] = {}
    async with QueueRouter(settings, backends=backends) as router:
        for start in range(0, jobs, 1000):
            await asyncio.gather(*(router.enqueue("email-send", {"i": i}, key=f"user-{i}")
                                   for i in range(start, start + 1000)))  # fmt: skip
            if start + 1000 == mark:
                peaks["at_mark"] = peak_mb()
    peaks["at_end"] = peak_mb()
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--mark", type=int, default=100_000)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:1/0", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # the child: one mode, one fresh process
        peaks = asyncio.run(one_mode(args.mode, args.jobs, args.mark, args.redis_url))
        print(json.dumps(peaks))
        return
    print(f"peak RSS (MB) after {args.mark:,} and {args.jobs:,} enqueues, per mode\n")
    print(f"{'mode':<17}{'at mark':>10}{'at end':>10}{'growth':>9}  target <= 10%")
    with RedisServer() as redis:
        for mode in MODES:
            measure(mode, args.jobs, args.mark, redis.url)


def measure(mode: str, jobs: int, mark: int, redis_url: str) -> None:
    """One mode in a fresh process; its line of the table."""
    out = subprocess.run(
        [sys.executable, __file__, "--mode", mode, "--jobs", str(jobs), "--mark", str(mark),
         "--redis-url", redis_url], capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"{mode}: {out.stderr.strip().splitlines()[-1]}")
    peaks = json.loads(out.stdout.strip().splitlines()[-1])
    growth = peaks["at_end"] / peaks["at_mark"] - 1
    verdict = "ok" if growth <= 0.10 else "above"
    print(f"{mode:<17}{peaks['at_mark']:>10.1f}{peaks['at_end']:>10.1f}{growth:>8.1%}  "
          f"{verdict}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
