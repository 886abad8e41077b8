"""``enqueue_many`` on real servers: one result per job, in order, under the same contract.

Bull jobs go in pipelined batches of the idempotent add script; the other routes are
placed as ``enqueue`` places them. A job's failure never hides another's placement.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio as aioredis

from queue_router import (
    BackendUnavailable,
    EnqueueOutcomeUnknown,
    InvalidJobError,
    Job,
    NotEnqueuedError,
    QueueRouter,
    QueueRouterError,
    Receipt,
    SyncQueueRouter,
)
from queue_router.testing.devservers import RedisServer, TemporalServer
from tests.integration.test_faults import (
    bull_entries,
    crash_and_restart,
    judge_temporal_crash,
)
from tests.oracle import Outcome


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


async def test_temporal_killed_mid_batch_loses_doubles_and_misroutes_nothing(
    make_settings: Callable[..., Any], redis_db: redis.Redis, own_temporal: TemporalServer,
    task_queue: str,
) -> None:  # fmt: skip
    """The Temporal share of a batch, started 50 at a time, with the server killed under it.

    Judged by the fault oracle: a start cut off by the kill is sent again until the
    server answers (or is reported unknown, and must not fall back); one refused while
    the server is down falls back to Bull; none may be lost, doubled or found where its
    route and receipt do not allow.
    """
    router = QueueRouter(
        make_settings(temporal_cluster_url=own_temporal.target, temporal_traffic_percentage=60)
    )
    jobs = [Job({"i": i}, key=f"user-{i}", job_id=f"job-{i}") for i in range(4000)]
    # Bull's share is written chunk by chunk as the input is read, and reading waits for
    # room among the Temporal starts: 400 waiting means over 600 starts have been made.
    crash = asyncio.create_task(kill_temporal_once_waiting(own_temporal, redis_db, 400))
    try:
        results = await router.enqueue_many("email-send", jobs)
        ended_at = time.monotonic()
    finally:
        await router.aclose()
        killed_at = await crash
    outcomes: list[tuple[str, Outcome, Receipt | None]] = [
        (job.job_id or "", outcome_of(result), result if isinstance(result, Receipt) else None)
        for job, result in zip(jobs, results, strict=True)
    ]
    await judge_temporal_crash(
        router, own_temporal, task_queue, redis_db, outcomes, "temporal killed mid-batch"
    )
    assert killed_at < ended_at, "Temporal was killed after the batch: the test did not bite"


def outcome_of(result: Receipt | QueueRouterError) -> Outcome:
    if isinstance(result, Receipt):
        return "ok"
    return "failed" if isinstance(result, NotEnqueuedError) else "unknown"


async def kill_temporal_once_waiting(server: TemporalServer, db: redis.Redis, jobs: int) -> float:
    """Kill Temporal once ``jobs`` Bull jobs are waiting, at a random moment just after;
    restart it 2 s later. Returns when it was killed (``time.monotonic()``)."""
    for _ in range(30_000):  # polls for at most ~30 s
        if await asyncio.to_thread(db.llen, "bull:email-send:wait") >= jobs:
            break
        await asyncio.sleep(0.001)
    await asyncio.sleep(random.uniform(0, 0.3))
    killed_at = time.monotonic()
    await crash_and_restart(server, down_s=2.0)
    return killed_at


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
