"""``enqueue_many`` on real servers: one result per job, in order, under the same contract.

Bull jobs go in pipelined batches of the idempotent add script; the other routes are
placed as ``enqueue`` places them. A job's failure never hides another's placement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from queue_router import (
    BackendUnavailable,
    EnqueueOutcomeUnknown,
    InvalidJobError,
    Job,
    QueueRouter,
    Receipt,
    SyncQueueRouter,
)
from queue_router.testing.devservers import RedisServer
from tests.integration.test_faults import bull_entries, crash_and_restart


async def test_a_batch_mixes_new_existing_duplicate_and_invalid_jobs(
    make_router: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router()  # percentage 0: every job to Bull
    await router.enqueue("email-send", {"n": 0}, job_id="old-1")
    jobs = [Job({"n": 1}, job_id="new-1"), Job({"n": 2}, job_id="old-1"),
            Job({"n": 3}, job_id="new-1"), Job({"n": 4}, job_id="12345"),  # all digits: invalid
            Job({"n": 5}, job_id="new-2")]  # fmt: skip
    results = await router.enqueue_many("email-send", jobs)
    assert [type(r).__name__ for r in results] == [
        "Receipt", "Receipt", "Receipt", "InvalidJobError", "Receipt"]  # fmt: skip
    existing = [r.placements[0].existing for r in results if isinstance(r, Receipt)]
    assert existing == [False, True, True, False]  # a duplicate inside the batch too
    assert isinstance(results[3], InvalidJobError) and "12345" in str(results[3])
    assert bull_entries(redis_db) == {"old-1": 1, "new-1": 1, "new-2": 1}
    assert redis_db.hget("bull:email-send:new-1", "data") == '{"n":1}'


async def test_temporal_jobs_fail_alone_and_bull_jobs_still_land(
    make_router: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(
        temporal_traffic_percentage=50, bull_fallback=False,
        temporal_cluster_url="127.0.0.1:1", temporal_retry_ms=100,
    )  # fmt: skip
    keys = [f"user-{i}" for i in range(40)]
    results = await router.enqueue_many("email-send", [Job({"i": k}, key=k) for k in keys])
    for key, result in zip(keys, results, strict=True):
        if router.route("email-send", key).to_temporal:
            assert isinstance(result, BackendUnavailable), result
        else:
            assert isinstance(result, Receipt) and result.backends == ("bull",)
    placed = {r.job_id for r in results if isinstance(r, Receipt)}
    assert placed and set(bull_entries(redis_db)) == placed


async def test_redis_killed_mid_batch_loses_and_doubles_nothing(
    make_settings: Callable[..., Any], own_redis: RedisServer,
) -> None:  # fmt: skip
    router = QueueRouter(make_settings(redis_url=own_redis.url))
    await router.startup()
    await router.enqueue("email-send", {}, job_id="warm-up")  # connected: the kill hits writes
    jobs = [Job({"i": i}, job_id=f"job-{i}") for i in range(20_000)]
    crash = asyncio.create_task(kill_once_written(own_redis, 2_000))
    try:
        results = await router.enqueue_many("email-send", jobs)
    finally:
        await router.aclose()
        await crash
    db = redis.Redis.from_url(own_redis.url, decode_responses=True)
    entries = bull_entries(db)
    db.close()
    outcomes = {type(r).__name__ for r in results}
    placed = [r.job_id for r in results if isinstance(r, Receipt)]
    failed = [j.job_id for j, r in zip(jobs, results, strict=True)
              if isinstance(r, BackendUnavailable)]  # fmt: skip
    unknown = [r for r in results if isinstance(r, EnqueueOutcomeUnknown)]
    print(f"\nredis killed mid-batch: {len(placed)} placed, {len(failed)} failed, "
          f"{len(unknown)} unknown")  # fmt: skip
    assert outcomes <= {"Receipt", "BackendUnavailable", "EnqueueOutcomeUnknown"}, outcomes
    assert failed or unknown, "the kill came too late to bite"
    assert all(entries[job_id] == 1 for job_id in placed)  # none lost
    assert not any(job_id in entries for job_id in failed)  # "not written" means it
    assert max(entries.values()) == 1  # none doubled


async def kill_once_written(server: RedisServer, jobs: int) -> None:
    """SIGKILL Redis as soon as ``jobs`` jobs are waiting (mid-batch), restart it 1 s later."""
    db = aioredis.Redis.from_url(server.url)
    try:
        for _ in range(30_000):  # polls for at most ~30 s
            if await db.llen("bull:email-send:wait") >= jobs:
                break
            await asyncio.sleep(0.001)
        await crash_and_restart(server, down_s=1)
        for _ in range(100):  # until Redis has loaded its data again
            try:
                await db.ping()
                return
            except (redis.BusyLoadingError, redis.ConnectionError):
                await asyncio.sleep(0.1)
    finally:
        await db.aclose()


def test_the_blocking_router_enqueues_many(
    make_settings: Callable[..., Any], redis_db: redis.Redis
) -> None:
    with SyncQueueRouter(QueueRouter(make_settings())) as router:
        results = router.enqueue_many_sync("email-send", [Job({"n": n}) for n in range(3)])
    assert [r.backends for r in results if isinstance(r, Receipt)] == [("bull",)] * 3
