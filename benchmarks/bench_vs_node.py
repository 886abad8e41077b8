"""Bull enqueue throughput against Node's own ``bull`` producer, side by side in one run.

Same machine, same fresh redis-server, same job shape (a small JSON payload with a
custom job id), each path on its own queue: one awaited add after another, 50 at a time,
and bulk (Node ``addBulk`` against ``enqueue_many``). Prints jobs/s, the ratio and the
target from the issue. Absolute figures depend on the machine; the ratios are the point.

    .venv/bin/python benchmarks/bench_vs_node.py [--jobs 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import time
from pathlib import Path

from queue_router import Job, QueueRouter, Settings
from queue_router.testing.devservers import RedisServer

TESTS = Path(__file__).resolve().parents[1] / "tests"
TARGETS = {"sequential": 1.2, "concurrent": 1.0, "bulk": 2.0}


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
    elif mode == "concurrent":
        room = asyncio.Semaphore(50)

        async def one(i: int) -> None:
            async with room:
                await router.enqueue(queue, data(i), job_id=f"py-{i}")

        await asyncio.gather(*(one(i) for i in range(jobs)))
    else:
        results = await router.enqueue_many(queue, [Job(data(i), job_id=f"py-{i}")
                                                    for i in range(jobs)])  # fmt: skip
        assert all(not isinstance(r, Exception) for r in results)
    return jobs / (time.perf_counter() - started)


async def main(jobs: int) -> None:
    with RedisServer() as server:
        queues = {f"bench-{m}-{side}": {"mode": "bull", "workflow_type": "benchJob"}
                  for m in TARGETS for side in ("py", "node")}  # fmt: skip
        settings = Settings.from_env(redis_url=server.url, queues=queues)
        async with QueueRouter(settings) as router:
            print(f"{jobs} jobs per path, loopback redis-server, one run\n")
            print(f"{'path':<12}{'queue-router':>14}{'node bull':>12}{'ratio':>8}{'target':>8}")
            for mode, target in TARGETS.items():
                py = await ours(router, f"bench-{mode}-py", mode, jobs)
                peer = await asyncio.to_thread(node, server.url, f"bench-{mode}-node", mode, jobs)
                ratio = py / peer
                verdict = "ok" if ratio >= target else "below"
                print(f"{mode:<12}{py:>12.0f}/s{peer:>10.0f}/s{ratio:>7.2f}x{target:>7.1f}x "
                      f"{verdict}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=5000)
    asyncio.run(main(parser.parse_args().jobs))
