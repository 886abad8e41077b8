"""Bull writes share one Redis connection, as ioredis does for Node's producer.

What that must not cost: a Redis that lost our script (restart, ``SCRIPT FLUSH``) still
takes every job, once. What it must give: concurrent callers never open a connection each.
(A reply that comes too late: ``test_faults.test_a_slow_redis_write_is_settled...``.)
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from typing import Any

import pytest
import redis
import redis.asyncio

from queue_router import EnqueueOutcomeUnknown, Job, QueueRouter, Receipt
from queue_router.connections.one_connection import OneConnection, pack
from queue_router.testing.devservers import RedisServer
from tests.integration.test_faults import bull_entries

pytestmark = pytest.mark.integration


async def test_a_flushed_script_is_loaded_again_for_single_and_batched_jobs(
    make_router: Callable[..., Any], redis_db: redis.Redis
) -> None:
    router: QueueRouter = await make_router()
    await router.enqueue("email-send", {"n": 0}, job_id="flush-0")
    redis_db.script_flush()
    single = await router.enqueue("email-send", {"n": 1}, job_id="flush-1")
    redis_db.script_flush()
    batch = await router.enqueue_many(
        "email-send", [Job({"n": i}, job_id=f"flush-{i}") for i in range(1, 5)]
    )
    assert single.backends == ("bull",) and not single.placements[0].existing
    assert [r.placements[0].existing for r in batch if isinstance(r, Receipt)] == [
        True, False, False, False]  # fmt: skip
    entries = bull_entries(redis_db)
    assert {f"flush-{i}": entries[f"flush-{i}"] for i in range(5)} == {
        f"flush-{i}": 1 for i in range(5)}  # fmt: skip


async def test_error_replies_are_recognised_whatever_hiredis_exports(
    make_router: Callable[..., Any], redis_db: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a long test run ``hiredis.ReplyError`` stopped being the class its Reader made:
    a NOSCRIPT reply then passed for a result and the job was refused, not resent."""
    import hiredis

    monkeypatch.setattr(hiredis, "ReplyError", type("ReplyError", (Exception,), {}))
    router: QueueRouter = await make_router()
    redis_db.script_flush()
    receipt = await router.enqueue("email-send", {"n": 1}, job_id="reimported-1")
    assert receipt.backends == ("bull",) and not receipt.placements[0].existing


async def test_concurrent_callers_share_one_connection(
    make_settings: Callable[..., Any], own_redis: RedisServer
) -> None:
    async with QueueRouter(make_settings(redis_url=own_redis.url)) as router:
        await router.enqueue("email-send", {}, job_id="warm-up")
        db = redis.Redis.from_url(own_redis.url)
        before = int(db.info("stats")["total_connections_received"])
        receipts = await asyncio.gather(
            *(router.enqueue("email-send", {"i": i}, job_id=f"c-{i}") for i in range(200))
        )
        after = int(db.info("stats")["total_connections_received"])
        db.close()
    assert len({r.job_id for r in receipts}) == 200
    assert after - before == 0, "a caller opened a connection of its own"


def test_bull_writes_run_on_uvloop(
    make_settings: Callable[..., Any], redis_db: redis.Redis
) -> None:
    """uvloop's transports are not asyncio's classes: the shared connection must not care."""
    import uvloop

    async def scenario() -> list[Receipt]:
        async with QueueRouter(make_settings()) as router:
            one = await router.enqueue("email-send", {"n": 0}, job_id="uv-0")
            many = await router.enqueue_many("email-send", [Job({"n": 1}, job_id="uv-1")])
        return [one, *(r for r in many if isinstance(r, Receipt))]

    receipts = uvloop.run(scenario())
    assert [r.backends for r in receipts] == [("bull",), ("bull",)]
    assert bull_entries(redis_db)["uv-0"] == bull_entries(redis_db)["uv-1"] == 1


async def test_a_script_that_failed_half_way_is_unknown_not_unwritten(
    make_router: Callable[..., Any], redis_db: redis.Redis
) -> None:
    """A wait list that is not a list: the add script writes the job hash, then fails.

    "Definitely not written" would be false (the hash is there); the job's outcome is
    unknown until the key is fixed and the job enqueued again with the same id.
    """
    router: QueueRouter = await make_router(
        queues={"broken": {"mode": "bull", "workflow_type": "b"}}
    )
    redis_db.set("bull:broken:wait", "not a list")
    with pytest.raises(EnqueueOutcomeUnknown, match="WRONGTYPE"):
        await router.enqueue("broken", {"n": 1}, job_id="half-1")
    [batched] = await router.enqueue_many("broken", [Job({"n": 2}, job_id="half-2")])
    assert isinstance(batched, EnqueueOutcomeUnknown), batched
    assert redis_db.exists("bull:broken:half-1")  # what "not written" would have hidden


async def test_a_lost_connection_leaves_no_reply_error_unretrieved(own_redis: RedisServer) -> None:
    """Every reply still due fails when the connection goes, and a caller stops at the
    first: the others must not end up in asyncio's "exception was never retrieved" log
    (a Redis killed under a batch once printed one such traceback per command)."""
    logged: list[str] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda _loop, context: logged.append(context["message"])
    )
    pool = redis.asyncio.ConnectionPool.from_url(own_redis.url)
    one = OneConnection(pool, timeout_s=5)
    with pytest.raises(redis.ConnectionError):  # QUIT is answered, then the socket closes
        await one.run([pack("QUIT"), pack("PING"), pack("PING")])
    one.close()
    await pool.aclose()
    del one  # the connection's replies (and their futures) are garbage now
    await asyncio.sleep(0.1)
    gc.collect()
    assert logged == []


async def test_a_reply_that_is_not_text_fails_only_its_own_caller(
    redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    """A connection that decodes replies: a value that is not UTF-8 is that command's
    ``DataError``, and the replies after it reach their own callers."""
    redis_db.set("text", "ünï")
    redis_db.set("bytes", b"\xff\xfe")
    client = redis.asyncio.Redis.from_url(redis_server.url, decode_responses=True)
    one = OneConnection.beside(client, encoding="utf-8")
    assert one is not None
    first, second, third = await one.run([pack("GET", "text"), pack("GET", "bytes"),
                                          pack("GET", "text")])  # fmt: skip
    assert (first, third) == ("ünï", "ünï")
    assert isinstance(second, redis.DataError) and "utf-8" in str(second)
    assert await one.run([pack("PING")]) == ["PONG"]  # the connection is still in step
    one.close()
    await client.aclose()
