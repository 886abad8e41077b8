"""``enqueue_many`` on its one-at-a-time path (Temporal, dual, shadow): bounded and prompt."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence

import pytest

from queue_router import (
    BackendUnavailable,
    Job,
    QueueRouter,
    QueueRouterError,
    Receipt,
    Settings,
    SyncQueueRouter,
)
from queue_router.contract import EnqueueRequest
from queue_router.many import CHUNK
from queue_router.placements import PlacementMemory
from queue_router.receipts import Placement
from queue_router.testing import MemoryBackend
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

    async def watched(requests: Sequence[EnqueueRequest]) -> list[Placement | QueueRouterError]:
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


class WrittenMemory(PlacementMemory):
    """A memory that counts its writes as a shared one makes them: one per call."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[list[str]] = []

    async def _share(self, jobs: Sequence[tuple[str, str, Placement]]) -> None:
        self.writes.append([job_id for _, job_id, _ in jobs])


def router_remembering(
    memory: PlacementMemory, latency_s: float = 0.0
) -> tuple[QueueRouter, MemoryBackend]:
    backends = {n: MemoryBackend(n, latency_s=latency_s) for n in ("bull", "rq", "temporal")}
    settings = Settings.from_env(temporal_traffic_percentage=100)
    return QueueRouter(settings, backends=backends, memory=memory), backends["temporal"]


async def test_what_temporal_holds_is_remembered_in_batches_before_the_call_returns() -> None:
    """One write a start is a Redis round trip a start; a batch is one for fifty."""
    memory = WrittenMemory()
    router, _ = router_remembering(memory)
    ids = [f"b-{i}" for i in range(120)]
    results = await router.enqueue_many("email-send", [Job({}, job_id=i) for i in ids])
    assert all(isinstance(r, Receipt) and r.backends == ("temporal",) for r in results)
    assert [len(write) for write in memory.writes] == [50, 50, 20]
    assert sorted(i for write in memory.writes for i in write) == sorted(ids)


async def test_a_job_repeated_in_one_call_is_known_held_before_its_batch_is_written() -> None:
    """The second start of a job finds Temporal refusing: it must not fall back to Bull,
    though the first start's record is still waiting for its batch."""
    memory = WrittenMemory()
    router, temporal = router_remembering(memory)
    place = temporal.enqueue

    async def refused_once_held(request: EnqueueRequest) -> Placement:
        if (request.queue, request.job_id) in temporal.jobs:
            raise BackendUnavailable("temporal", "refused for the test")
        return await place(request)

    temporal.enqueue = refused_once_held  # type: ignore[method-assign]
    jobs = [Job({}, job_id="twice"), Job({}, job_id="other"), Job({}, job_id="twice")]
    results = await router.enqueue_many("email-send", jobs, concurrency=1)
    again = results[2]
    assert isinstance(again, Receipt) and again.backends == ("temporal",) and not again.fell_back
    assert again.placements[0].existing and again.placements[0].detail["remembered"]
    assert memory.writes == [["twice", "other"]]  # the repeat added no record


async def test_a_cancelled_call_still_writes_what_temporal_took() -> None:
    memory = WrittenMemory()
    router, temporal = router_remembering(memory, latency_s=0.01)
    call = asyncio.create_task(
        router.enqueue_many("email-send", [Job({}, job_id=f"c-{i}") for i in range(40)],
                            concurrency=10)
    )  # fmt: skip
    await asyncio.sleep(0.025)  # the first ten placed, the second ten on their way
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    taken = {job_id for _, job_id in temporal.jobs}
    assert 10 <= len(taken) < 40
    assert {i for write in memory.writes for i in write} == taken
