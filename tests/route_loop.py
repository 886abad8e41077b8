"""``python -m tests.route_loop QUEUE SECONDS TAG``: one app process enqueueing steadily.

Configured by env vars like any app; enqueues a job every 50 ms until SIGTERM (or for
at most SECONDS) and prints one JSON line per job: its id, when it was enqueued, and the
backend that took it. The test stops it once its last phase has run long enough: a
fixed run time counted from the process's own start would end early whenever the
machine is slow to start it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time

from queue_router import QueueRouter, QueueRouterError


async def main(queue: str, seconds: float, tag: str) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with QueueRouter.from_env() as router:
        deadline = time.time() + seconds
        i = 0
        while time.time() < deadline and not stop.is_set():
            job_id = f"{tag}-{i}"
            at = time.time()
            try:
                receipt = await router.enqueue(queue, {"i": i}, key=f"user-{i}", job_id=job_id)
                where = receipt.backends[0]
            except QueueRouterError as exc:
                where = f"error: {exc}"
            print(json.dumps({"job_id": job_id, "at": at, "backend": where}), flush=True)
            i += 1
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3]))
