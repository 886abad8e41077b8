"""Shadow copies run in the background, bounded, and never reach the caller.

The caller must not wait for a shadow start nor fail because of it. So a shadow start
is a task; at most ``max_in_flight`` run at once (past that, new copies are dropped and
counted rather than queued without bound), and every error is counted and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from queue_router.receipts import Placement

log = logging.getLogger("queue_router.shadow")

__all__ = ["ShadowRunner"]


class ShadowRunner:
    def __init__(self, *, max_in_flight: int, timeout_s: float, stats: Counter[str]) -> None:
        self._max = max_in_flight
        self._timeout = timeout_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._stats = stats

    def submit(self, job_id: str, start: Callable[[], Awaitable[Placement]]) -> bool:
        """Start the shadow copy in the background; False if dropped for lack of room."""
        if len(self._tasks) >= self._max:
            self._stats["shadow_dropped"] += 1
            log.warning("shadow copy of job %s dropped: %d already in flight", job_id, self._max)
            return False
        task = asyncio.get_running_loop().create_task(self._run(job_id, start))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self._stats["shadow_started"] += 1
        return True

    async def _run(self, job_id: str, start: Callable[[], Awaitable[Placement]]) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await start()
            self._stats["shadow_ok"] += 1
        except Exception as exc:
            self._stats["shadow_failed"] += 1
            log.warning("shadow copy of job %s failed: %s", job_id, exc)

    async def drain(self, timeout_s: float) -> None:
        """Let running shadow starts finish for up to ``timeout_s``, then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
