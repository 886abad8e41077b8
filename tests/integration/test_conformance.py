"""One conformance suite every backend passes: enqueue, duplicate, unavailable, unknown.

The same four checks run against Bull, RQ, the Redis list and Temporal on the real servers (and against
MemoryBackend, whose failures are injected): a backend that maps its client's errors
wrongly onto the contract fails here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from backends import (
    Backend,
    BullBackend,
    EnqueueRequest,
    ListBackend,
    MemoryBackend,
    RQBackend,
    TemporalBackend,
)
from queue_router import BackendUnavailable, EnqueueOutcomeUnknown, JobOptions
from queue_router.testing.devservers import RedisServer, TemporalServer, free_port
from tests.proxy import ToggleProxy

pytestmark = pytest.mark.integration

# A factory builds the backend against a given (redis_port, temporal_port).
Factory = Callable[[int, int], Backend]
FACTORIES: dict[str, Factory] = {
    "bull": lambda r, t: BullBackend(f"redis://127.0.0.1:{r}/0", timeout_s=0.5),
    "rq": lambda r, t: RQBackend(f"redis://127.0.0.1:{r}/0", timeout_s=0.5),
    "list": lambda r, t: ListBackend(f"redis://127.0.0.1:{r}/0", timeout_s=0.5),
    "temporal": lambda r, t: TemporalBackend(f"127.0.0.1:{t}", rpc_timeout_s=0.5, retry_s=0.3),
}


def request(job_id: str | None = None) -> EnqueueRequest:
    return EnqueueRequest(
        queue="conformance", job_id=job_id or f"c-{uuid.uuid4().hex[:10]}", job_name="__default__",
        data={"x": 1}, data_json='{"x":1}', options=JobOptions(attempts=2),
        timestamp_ms=int(time.time() * 1000), workflow_type="conformanceWorkflow",
        task_queue="conformance", rq_function="tests.nowhere.task",
    )  # fmt: skip


@pytest.fixture(params=[*FACTORIES, "memory"])
async def open_backend(
    request: pytest.FixtureRequest, redis_server: RedisServer, temporal_server: TemporalServer
) -> AsyncIterator[Callable[..., Awaitable[Backend]]]:
    """Opens the parametrized backend against real servers or given ports."""
    opened: list[Backend] = []
    name: str = request.param

    async def build(redis_port: int | None = None, temporal_port: int | None = None) -> Backend:
        if name == "memory":
            backend: Backend = MemoryBackend("memory")
        else:
            backend = FACTORIES[name](
                redis_port or redis_server.port, temporal_port or temporal_server.port
            )
        await backend.startup()
        opened.append(backend)
        return backend

    build.kind = name  # type: ignore[attr-defined]
    yield build
    for backend in opened:
        await backend.aclose()


async def test_enqueue_returns_a_placement(open_backend: Callable[..., Awaitable[Backend]]) -> None:
    backend = await open_backend()
    placement = await backend.enqueue(request("first-1"))
    assert placement.ok and not placement.existing and placement.backend == backend.name
    assert "first-1" in placement.job_id


async def test_duplicate_returns_the_existing_job(
    open_backend: Callable[..., Awaitable[Backend]],
) -> None:
    backend = await open_backend()
    job = request()
    first = await backend.enqueue(job)
    again = await backend.enqueue(job)
    assert again.existing and again.job_id == first.job_id
    if first.run_id is not None:
        assert again.run_id == first.run_id


async def test_unreachable_server_is_definitely_not_written(
    open_backend: Callable[..., Awaitable[Backend]],
) -> None:
    dead = free_port()
    backend = await open_backend(redis_port=dead, temporal_port=dead)
    if isinstance(backend, MemoryBackend):
        backend.fail_with = "unavailable"
    with pytest.raises(BackendUnavailable):
        await backend.enqueue(request())


async def test_lost_reply_is_outcome_unknown(
    open_backend: Callable[..., Awaitable[Backend]],
    redis_server: RedisServer, temporal_server: TemporalServer,
) -> None:  # fmt: skip
    kind = open_backend.kind  # type: ignore[attr-defined]
    upstream = temporal_server.port if kind == "temporal" else redis_server.port
    proxy = ToggleProxy(upstream)
    await proxy.start()
    try:
        backend = await open_backend(redis_port=proxy.port, temporal_port=proxy.port)
        await backend.enqueue(request())  # connect while replies still flow
        proxy.mode = "drop_replies"  # the write reaches the server, its reply is lost
        if isinstance(backend, MemoryBackend):
            backend.fail_with = "unknown"
        job = request()
        with pytest.raises(EnqueueOutcomeUnknown) as info:
            await backend.enqueue(job)
        assert info.value.job_id == job.job_id
        proxy.mode = "forward"
        if isinstance(backend, MemoryBackend):
            backend.fail_with = None
        retried = await backend.enqueue(job)  # the retry with the same id is safe
        assert retried.ok
        if kind in ("bull", "temporal"):  # one-command writes: the lost-reply write landed
            assert retried.existing, "the first write had landed; the retry must find it"
        # RQ makes several round trips, so its first write may not have been sent at all;
        # either way the retry leaves exactly one job (checked by the duplicate test).
    finally:
        await proxy.close()
