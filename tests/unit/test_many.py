"""``enqueue_many`` on its one-at-a-time path (Temporal, dual, shadow): bounded and prompt."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from queue_router import Job, QueueRouterError, Receipt, SyncQueueRouter
from queue_router.contract import EnqueueRequest
from queue_router.many import CHUNK
from queue_router.receipts import Placement
from tests.unit.test_router import router_with


async def test_temporal_jobs_start_while_the_rest_of_the_input_is_read() -> None:
    """At most ``concurrency`` placements at once, the first once its chunk is read, not the
    whole input: a call with a million Temporal jobs never holds a million prepared
    requests and pending coroutines, and its first start does not wait for the last job."""
    router, backends = router_with(latency_s=0.002, temporal_traffic_percentage=100)
    temporal = backends["temporal"]
    place = temporal.enqueue
    total = 2 * CHUNK + 100
    read = in_flight = peak = 0
    read_at_first_start: int | None = None

    async def watched(request: EnqueueRequest) -> Placement:
        nonlocal in_flight, peak, read_at_first_start
        if read_at_first_start is None:
            read_at_first_start = read
        in_flight += 1
        peak = max(peak, in_flight)
        try:
            return await place(request)
        finally:
            in_flight -= 1

    temporal.enqueue = watched  # type: ignore[method-assign]

    def jobs() -> Iterator[Job]:
        nonlocal read
        for i in range(total):
            read += 1
            yield Job({"i": i}, job_id=f"many-{i}")

    results = await router.enqueue_many("email-send", jobs(), concurrency=10)
    assert all(isinstance(r, Receipt) and r.backends == ("temporal",) for r in results)
    assert [r.job_id for r in results if isinstance(r, Receipt)] == [
        f"many-{i}" for i in range(total)
    ]
    assert len(temporal.jobs) == total
    assert peak == 10
    assert read_at_first_start is not None and read_at_first_start <= CHUNK, read_at_first_start


async def test_a_concurrency_below_one_is_refused_before_anything_is_written() -> None:
    router, backends = router_with(temporal_traffic_percentage=100)
    for concurrency in (0, -1):  # 0 would wait forever for a free slot
        with pytest.raises(ValueError, match=f"concurrency must be at least 1, not {concurrency}"):
            await asyncio.wait_for(
                router.enqueue_many("email-send", [Job({})], concurrency=concurrency), 5
            )
    assert backends["temporal"].calls == 0


def test_the_blocking_router_reads_its_input_a_chunk_at_a_time_in_the_callers_thread() -> None:
    """Not the whole input first: a million jobs are never all in memory, and an iterator
    bound to the caller's thread (a database cursor) is only read there."""
    router, backends = router_with()
    caller = threading.get_ident()
    read = 0
    read_at_first_write: int | None = None
    bull = backends["bull"]
    place_many = bull.enqueue_many

    async def watched(requests: list[EnqueueRequest]) -> list[Placement | QueueRouterError]:
        nonlocal read_at_first_write
        if read_at_first_write is None:
            read_at_first_write = read
        return await place_many(requests)

    def jobs() -> Iterator[Job]:
        nonlocal read
        for i in range(2 * CHUNK + 7):
            assert threading.get_ident() == caller, "the input was read on the loop's thread"
            read += 1
            yield Job({"i": i}, job_id=f"s-{i}")

    bull.enqueue_many = watched  # type: ignore[method-assign]
    with SyncQueueRouter(router) as blocking:
        results = blocking.enqueue_many_sync("email-send", jobs())
    assert [r.job_id for r in results if isinstance(r, Receipt)] == [f"s-{i}" for i in range(read)]
    assert read == 2 * CHUNK + 7
    assert read_at_first_write is not None and read_at_first_write <= CHUNK
