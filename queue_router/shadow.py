"""Shadow copies run in the background, bounded, and never reach the caller.

The caller must not wait for a shadow start nor fail because of it. So a shadow start
is a task; at most ``max_in_flight`` run at once (past that, new copies are dropped and
counted rather than queued without bound), and every error is counted
(``queue_router_shadow_total``) and logged, repeats summarised once per interval.

Drops are also written to the rollout evidence in Redis (at most once a second, as one
count), so ``shadow-report`` says how many copies were never compared: a mismatch rate
over a sample biased by what happened to get through is never shown silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

from queue_router.evidence.ledger import Evidence
from queue_router.logsummary import LogSummary
from queue_router.metrics import SHADOWS
from queue_router.receipts import Placement

log = logging.getLogger("queue_router.shadow")

__all__ = ["ShadowRunner"]


class ShadowRunner:
    def __init__(
        self, *, max_in_flight: int, timeout_s: float, evidence: Evidence | None = None
    ) -> None:
        self._max = max_in_flight
        self._timeout = timeout_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._log = LogSummary(log)
        self._evidence = evidence
        self._drops: Counter[str] = Counter()
        self._flusher: asyncio.Task[None] | None = None

    def submit(self, queue: str, job_id: str, start: Callable[[], Awaitable[Placement]]) -> bool:
        """Start the shadow copy in the background; False if dropped for lack of room."""
        if len(self._tasks) >= self._max:
            SHADOWS.labels(queue, "dropped").inc()
            self._log.warning("dropped", "shadow copy of job %s on %s dropped: %d already in "
                              "flight (QUEUE_ROUTER_SHADOW_MAX_IN_FLIGHT)", job_id, queue,
                              self._max)  # fmt: skip
            self._count_drop(queue)
            return False
        task = asyncio.get_running_loop().create_task(self._run(queue, job_id, start))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        SHADOWS.labels(queue, "started").inc()
        return True

    async def _run(
        self, queue: str, job_id: str, start: Callable[[], Awaitable[Placement]]
    ) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await start()
            SHADOWS.labels(queue, "ok").inc()
        except Exception as exc:
            SHADOWS.labels(queue, "failed").inc()
            self._log.warning(
                "failed", "shadow copy of job %s on %s failed: %s", job_id, queue, exc
            )

    def _count_drop(self, queue: str) -> None:
        if self._evidence is None:
            return
        self._drops[queue] += 1
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_soon())

    async def _flush_soon(self) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(1.0)
        self._flusher = None
        await self._flush()

    async def _flush(self) -> None:
        drops, self._drops = self._drops, Counter()
        assert self._evidence is not None
        for queue, count in drops.items():
            try:
                await self._evidence.record_dropped(queue, count)
            except (RedisError, OSError) as exc:
                self._log.warning("record", "%d dropped shadow copies of %s not recorded in "
                                  "Redis: %s", count, queue, exc)  # fmt: skip

    async def drain(self, timeout_s: float) -> None:
        """Let running shadow starts finish for up to ``timeout_s``, then cancel the rest."""
        if self._flusher is not None:  # write the pending drop count now
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        self._log.flush()
