"""Shadow copies run in the background, bounded, and never reach the caller.

The caller must not wait for a shadow start nor fail because of it. Two ways keep it so:

- ``ShadowHandoff`` (``QUEUE_ROUTER_SHADOW_STARTS=worker``, the default with real
  backends): the copy is written to a Redis stream, one script call for the copies of a
  few milliseconds, and ``queue-router worker`` starts it (``relay``). A Temporal
  start costs about a millisecond of CPU; handed off, the caller's process pays a few
  microseconds.
- ``ShadowRunner`` (``in-process``): the copy is started here, as a task.

Either way a router holds a bounded number of copies at once (past it, new copies are
dropped and counted rather than queued without bound), and every error is counted
(``queue_router_shadow_total``) and logged, repeats summarised once per interval.

Drops are also written to the rollout evidence in Redis (at most once a second, as one
count), so ``shadow-report`` says how many copies were never compared: a mismatch rate
over a sample biased by what happened to get through is never shown silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import replace

from redis.exceptions import RedisError

from queue_router.contract import AsyncLifecycle, Backend, EnqueueRequest
from queue_router.evidence.ledger import Evidence
from queue_router.telemetry.logsummary import LogSummary
from queue_router.telemetry.metrics import SHADOWS

log = logging.getLogger("queue_router.shadow")

__all__ = ["ShadowRunner", "ShadowStarts"]


class ShadowStarts(AsyncLifecycle, ABC):
    """What both ways share: the bound, the drop count, and draining at close."""

    def __init__(self, *, limit: int, evidence: Evidence | None = None) -> None:
        self._max = limit
        self._tasks: set[asyncio.Task[None]] = set()
        self._log = LogSummary(log)
        self._evidence = evidence
        self._drops: Counter[str] = Counter()
        self._flusher: asyncio.Task[None] | None = None

    @abstractmethod
    def submit(self, request: EnqueueRequest, within_s: int, backend: Backend) -> bool:
        """Start a shadow copy of ``request`` on ``backend`` in the background, comparing
        within ``within_s``; False if dropped for lack of room."""

    def _background(self, work: asyncio.Task[None]) -> None:
        self._tasks.add(work)
        work.add_done_callback(self._tasks.discard)

    def _dropped(self, queue: str, count: int, why: str) -> None:
        SHADOWS.labels(queue, "dropped").inc(count)
        self._log.warning("dropped", "%d shadow copies of %s dropped: %s", count, queue, why)
        if self._evidence is None:
            return
        self._drops[queue] += count
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
        """Let background work finish for up to ``timeout_s``, then cancel the rest, and
        write the pending drop count."""
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=timeout_s)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
        if self._flusher is not None:  # write the pending drop count now
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        self._log.flush()


class ShadowRunner(ShadowStarts):
    """Starts each shadow copy in this process, as a task that times out."""

    def __init__(
        self, *, max_in_flight: int, timeout_s: float, evidence: Evidence | None = None
    ) -> None:
        super().__init__(limit=max_in_flight, evidence=evidence)
        self._timeout = timeout_s

    def submit(self, request: EnqueueRequest, within_s: int, backend: Backend) -> bool:
        if len(self._tasks) >= self._max:
            self._dropped(request.queue, 1, f"{self._max} already in flight "
                          "(QUEUE_ROUTER_SHADOW_MAX_IN_FLIGHT)")  # fmt: skip
            return False
        copy = replace(request, shadow=True, compare_within_s=within_s)
        self._background(asyncio.get_running_loop().create_task(self._run(copy, backend)))
        SHADOWS.labels(request.queue, "started").inc()
        return True

    async def _run(self, request: EnqueueRequest, backend: Backend) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await backend.enqueue(request)
            SHADOWS.labels(request.queue, "ok").inc()
        except Exception as exc:
            SHADOWS.labels(request.queue, "failed").inc()
            self._log.warning("failed", "shadow copy of job %s on %s failed: %s",
                              request.job_id, request.queue, exc)  # fmt: skip
