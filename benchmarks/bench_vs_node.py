"""Bull enqueue throughput against Node's own ``bull`` producer, side by side in one run.

Same machine, same fresh redis-server, same job shape (a small JSON payload with a
custom job id), each path on its own queue: one awaited add after another, 50 lanes of
awaited adds, and bulk (Node ``addBulk`` against ``enqueue_many``). Each path runs in
several rounds, the two sides alternating who goes first; prints the median jobs/s,
the median of the per-round ratios, each round's ratio, and the target from the issue.
Absolute figures depend on the machine (and on a shared one, on the neighbours); the
ratios are the point.

    .venv/bin/python benchmarks/bench_vs_node.py [--jobs 5000] [--rounds 7] [--fsync always]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import get_args

from queue_router import Job, QueueRouter, Settings
from queue_router.testing.devservers import AppendFsync, RedisServer

TESTS = Path(__file__).resolve().parents[1] / "tests"
TARGETS = {"sequential": 1.2, "concurrent": 1.0, "bulk": 2.0}
CONCURRENCY = 50


def node(redis_url: str, queue: str, mode: str, jobs: int) -> float:
    binary = shutil.which("node")
    assert binary, "node is required (make install sets up tests/node_modules)"
    out = subprocess.run(
        [binary, str(TESTS / "interop" / "bull_bench.js"), redis_url, queue, mode, str(jobs)],
        cwd=TESTS, capture_output=True, text=True, check=True, timeout=600,
        env={"NODE_PATH": str(TESTS / "node_modules"), "PATH": str(Path(binary).parent)},
    )  # fmt: skip
    return float(json.loads(out.stdout)["per_s"])


def data(i: int) -> dict[str, object]:
    return {"to": f"user{i}@example.com", "subject": "hello", "n": i}


async def ours(router: QueueRouter, queue: str, mode: str, jobs: int) -> float:
    started = time.perf_counter()
    if mode == "sequential":
        for i in range(jobs):
            await router.enqueue(queue, data(i), job_id=f"py-{i}")
    elif mode == "concurrent":  # as the Node side does it: 50 lanes, each add after add
        numbers = iter(range(jobs))

        async def lane() -> None:
            for i in numbers:
                await router.enqueue(queue, data(i), job_id=f"py-{i}")

        await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    else:
        results = await router.enqueue_many(queue, [Job(data(i), job_id=f"py-{i}")
                                                    for i in range(jobs)])  # fmt: skip
        assert all(not isinstance(r, Exception) for r in results)
    return jobs / (time.perf_counter() - started)


async def main(jobs: int, rounds: int, fsync: AppendFsync) -> None:
    with RedisServer(appendfsync=fsync) as server:
        queues = {f"bench-{m}-{side}-{r}": {"mode": "bull", "workflow_type": "benchJob"}
                  for m in TARGETS for side in ("py", "node") for r in range(rounds)}  # fmt: skip
        settings = Settings.from_env(redis_url=server.url, queues=queues)
        async with QueueRouter(settings) as router:
            print(
                f"{jobs} jobs per path and round, {rounds} rounds (the two sides alternate "
                f"who goes first), loopback redis-server, appendfsync {fsync}, the router "
                f"on {type(asyncio.get_running_loop()).__module__.split('.')[0]}'s event loop\n"
            )
            print(f"{'path':<12}{'queue-router':>14}{'node bull':>12}{'ratio':>8}{'target':>8}"
                  "   (medians; ratios of each round)")  # fmt: skip
            for mode, target in TARGETS.items():
                py: list[float] = []
                peer: list[float] = []
                for r in range(rounds):
                    ours_first = r % 2 == 0
                    if not ours_first:
                        peer.append(await asyncio.to_thread(
                            node, server.url, f"bench-{mode}-node-{r}", mode, jobs))  # fmt: skip
                    py.append(await ours(router, f"bench-{mode}-py-{r}", mode, jobs))
                    if ours_first:
                        peer.append(await asyncio.to_thread(
                            node, server.url, f"bench-{mode}-node-{r}", mode, jobs))  # fmt: skip
                ratios = [a / b for a, b in zip(py, peer, strict=True)]
                ratio = statistics.median(ratios)
                verdict = "ok" if ratio >= target else "below"
                each = " ".join(f"{x:.2f}" for x in ratios)
                print(f"{mode:<12}{statistics.median(py):>12.0f}/s"
                      f"{statistics.median(peer):>10.0f}/s{ratio:>7.2f}x{target:>7.1f}x "
                      f"{verdict}   ({each})")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument(
        "--fsync", choices=get_args(AppendFsync), default="everysec",
        help="Redis appendfsync: everysec is Redis's AOF default; the test servers use always",
    )  # fmt: skip
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio",
                        help="the event loop the router runs on")  # fmt: skip
    args = parser.parse_args()
    if args.loop == "uvloop":
        import uvloop

        uvloop.run(main(args.jobs, args.rounds, args.fsync))
    else:
        asyncio.run(main(args.jobs, args.rounds, args.fsync))
