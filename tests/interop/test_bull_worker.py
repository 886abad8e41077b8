"""Jobs our BullBackend writes are processed by an unmodified Node.js Bull 4 worker."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from queue_router import Backoff, JobOptions, QueueRouter
from queue_router.testing.devservers import RedisServer
from tests.interop.node import TESTS, run_node

pytestmark = [pytest.mark.integration, pytest.mark.interop]

WORKER = TESTS / "interop" / "bull_worker.js"
ADMIN = TESTS / "interop" / "bull_admin.js"


async def run_worker(
    redis_url: str, queue: str, count: int, fail_times: int = 0
) -> list[dict[str, Any]]:
    out = await run_node(WORKER, redis_url, "bull", queue, str(count), str(fail_times))
    return [json.loads(line) for line in out.splitlines()]


async def test_bull_worker_processes_our_jobs_in_bull_order(
    make_router: Callable[..., Any], redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    router: QueueRouter = await make_router(queues={"email-send": {"mode": "bull"}})
    payload = {
        "to": "zoë@example.com",
        "nested": {"list": [1, 2.5, None, True]},
        "text": "日本語 🚀",
    }
    await router.enqueue("email-send", payload, job_id="plain-1")
    await router.enqueue("email-send", {"p": 5}, job_id="prio-5", options=JobOptions(priority=5))
    await router.enqueue("email-send", {"p": 1}, job_id="prio-1", options=JobOptions(priority=1))
    await router.enqueue(
        "email-send", {"d": 1}, job_id="delayed-1", options=JobOptions(delay_ms=300)
    )
    await router.enqueue("email-send", {"big": "x" * 500_000}, job_id="large-1")
    processed = await run_worker(redis_server.url, "email-send", 5)
    order = [job["id"] for job in processed]
    assert order[:2] == ["prio-1", "prio-5"]  # prioritized jobs first, by priority
    assert set(order) == {"plain-1", "prio-5", "prio-1", "delayed-1", "large-1"}
    by_id = {job["id"]: job for job in processed}
    assert by_id["plain-1"]["data"] == payload and by_id["plain-1"]["name"] == "__default__"
    assert by_id["large-1"]["data"] == {"big": "x" * 500_000}
    assert by_id["delayed-1"]["opts"]["delay"] == 300
    completed = redis_db.zrange("bull:email-send:completed", 0, -1)
    assert set(completed) == set(order)
    assert json.loads(redis_db.hget("bull:email-send:plain-1", "returnvalue") or "") == {
        "ok": "plain-1"
    }


async def test_bull_worker_retries_with_our_attempts_and_backoff(
    make_router: Callable[..., Any], redis_server: RedisServer
) -> None:
    router: QueueRouter = await make_router(queues={"email-send": {"mode": "bull"}})
    options = JobOptions(attempts=3, backoff=Backoff("fixed", 100))
    await router.enqueue("email-send", {"flaky": True}, job_id="retry-1", options=options)
    [job] = await run_worker(redis_server.url, "email-send", 1, fail_times=2)
    assert job["id"] == "retry-1" and job["attemptsMade"] == 2


async def test_lifo_goes_first_and_remove_on_complete_removes(
    make_router: Callable[..., Any], redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    router: QueueRouter = await make_router(queues={"email-send": {"mode": "bull"}})
    await router.enqueue("email-send", {"n": 1}, job_id="first")
    await router.enqueue(
        "email-send", {"n": 2}, job_id="second", options=JobOptions(remove_on_complete=True)
    )
    await router.enqueue("email-send", {"n": 3}, job_id="jumper", options=JobOptions(lifo=True))
    order = [job["id"] for job in await run_worker(redis_server.url, "email-send", 3)]
    assert order == ["jumper", "first", "second"]
    assert not redis_db.exists("bull:email-send:second")
    assert set(redis_db.zrange("bull:email-send:completed", 0, -1)) == {"first", "jumper"}


async def test_a_paused_queue_holds_our_job_until_resumed(
    make_router: Callable[..., Any], redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    await run_node(ADMIN, redis_server.url, "email-send", "pause")
    router: QueueRouter = await make_router(queues={"email-send": {"mode": "bull"}})
    await router.enqueue("email-send", {"held": True}, job_id="while-paused")
    counts = json.loads(await run_node(ADMIN, redis_server.url, "email-send", "counts"))
    assert (counts["paused"], counts["waiting"]) == (1, 0)
    await run_node(ADMIN, redis_server.url, "email-send", "resume")
    [job] = await run_worker(redis_server.url, "email-send", 1)
    assert job["id"] == "while-paused"
