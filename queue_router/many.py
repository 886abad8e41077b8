"""``enqueue_many``: many jobs of one queue, one result per job, in input order.

A base of ``QueueRouter``, on ``Dispatch``: it resolves each job as ``enqueue`` does
(``_prepare``), sends the jobs whose route is one legacy Redis backend to that backend's
``enqueue_many`` (one pipelined batch of the same idempotent script), and places the
others as ``enqueue`` places them (``Dispatch._place``), a bounded number at a time.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import time
from abc import abstractmethod
from collections.abc import Iterable

from queue_router.config import QueueConfig
from queue_router.contract import EnqueueRequest
from queue_router.dispatch import Dispatch, receipt
from queue_router.errors import NotEnqueuedError, QueueRouterError
from queue_router.placements import HeldTogether, PlacementMemory
from queue_router.receipts import Job, Placement, Receipt
from queue_router.routing import Route
from queue_router.telemetry.metrics import EnqueueOutcome, count_enqueue, time_enqueue

__all__ = ["ManyJobs"]

CHUNK = 500
"""Jobs prepared before their batched write goes out; the next chunk is prepared while
Redis runs this one (Python and Redis then work side by side)."""
CHUNKS_IN_FLIGHT = 4
"""Chunks written whose replies are not read yet: bounds what a huge call holds at once."""


class ManyJobs(Dispatch):
    """``enqueue_many``, on the router's ``Dispatch``; the router resolves the jobs."""

    @abstractmethod
    def _check_usable(self) -> None: ...

    @abstractmethod
    def _prepare(self, queue: str, job: Job) -> tuple[QueueConfig, Route, EnqueueRequest]: ...

    async def enqueue_many(
        self, queue: str, jobs: Iterable[Job], *, concurrency: int = 50
    ) -> list[Receipt | QueueRouterError]:
        """Place many jobs of one queue; one result per job, in input order.

        Each result is the job's ``Receipt``, or the ``QueueRouterError`` that job got (bad
        input, not written, outcome unknown): one job's failure never hides another's
        placement. Jobs whose route is one legacy Redis backend are written in pipelined
        batches of the same idempotent script; the others (Temporal, dual, shadow) are
        placed as ``enqueue`` places them, ``concurrency`` at a time, starting while the
        rest of ``jobs`` is still being read.
        """
        if concurrency < 1:  # 0 would wait forever for a free slot
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        results: list[Receipt | QueueRouterError | None] = []
        running: list[asyncio.Task[None]] = []
        in_flight = asyncio.Semaphore(CHUNKS_IN_FLIGHT)
        room = asyncio.Semaphore(concurrency)
        memory = HeldTogether(self._memory)  # what Temporal holds: written in batches
        jobs = iter(jobs)
        try:
            while chunk := list(itertools.islice(jobs, CHUNK)):
                self._check_usable()  # closed, or another loop: before any of it is written
                batched: dict[str, list[tuple[int, Route, EnqueueRequest]]] = {}
                for job in chunk:
                    index = len(results)
                    results.append(None)
                    try:
                        config, route, request = self._prepare(queue, job)
                    except QueueRouterError as exc:
                        results[index] = exc
                        continue
                    if route.primary == config.legacy and not (route.secondary or route.shadow):
                        batched.setdefault(route.primary, []).append((index, route, request))
                    else:  # placed now, ``concurrency`` at a time: reading waits for a slot
                        await room.acquire()
                        resolved = (config, route, request)
                        one = self._place_one(index, resolved, memory, results, room)
                        running.append(asyncio.create_task(one))
                for backend_name, items in batched.items():
                    await in_flight.acquire()
                    chunk_write = self._write_chunk(backend_name, items, results, in_flight)
                    running.append(asyncio.create_task(chunk_write))
                await asyncio.sleep(0)  # this chunk goes out while the next one is prepared
                running = [task for task in running if not task.done() or task.exception()]
            await asyncio.gather(*running)
        finally:
            for task in running:  # only unfinished ones, when this call itself is cancelled
                task.cancel()
            await memory.flush()  # before any receipt is returned, or the cancellation
        return [r for r in results if r is not None]

    async def _place_one(
        self,
        index: int,
        resolved: tuple[QueueConfig, Route, EnqueueRequest],
        memory: PlacementMemory,
        results: list[Receipt | QueueRouterError | None],
        room: asyncio.Semaphore,
    ) -> None:
        """One job placed as ``enqueue`` places it; its receipt or error lands at its index
        and its slot in ``room`` is given back."""
        try:
            results[index] = await self._place(*resolved, memory)
        except QueueRouterError as exc:
            results[index] = exc
        finally:
            room.release()

    async def _write_chunk(
        self,
        backend_name: str,
        items: list[tuple[int, Route, EnqueueRequest]],
        results: list[Receipt | QueueRouterError | None],
        in_flight: asyncio.Semaphore,
    ) -> None:
        """One chunk's batched write; each job's receipt or error lands at its index."""
        try:
            placed = await self._call_many(backend_name, [request for _, _, request in items])
        finally:
            in_flight.release()
        for (index, route, request), outcome in zip(items, placed, strict=True):
            results[index] = (
                receipt(route, request, (outcome,)) if isinstance(outcome, Placement) else outcome
            )

    async def _call_many(
        self, backend_name: str, requests: list[EnqueueRequest]
    ) -> list[Placement | QueueRouterError]:
        """One batched backend call, each job counted as ``_call`` counts it."""
        if not requests:
            return []
        started = time.perf_counter()
        outcomes = await self._backends[backend_name].enqueue_many(requests)
        elapsed = time.perf_counter() - started
        kinds: collections.Counter[EnqueueOutcome] = collections.Counter(
            ("existing" if outcome.existing else "placed") if isinstance(outcome, Placement)
            else "failed" if isinstance(outcome, NotEnqueuedError) else "unknown"
            for outcome in outcomes
        )  # fmt: skip
        queue = requests[0].queue
        time_enqueue(queue, backend_name, elapsed, len(outcomes))  # each job took the batch's time
        for kind, count in kinds.items():
            count_enqueue(queue, backend_name, "batch", kind, count)
        return outcomes
