"""The Bull layout our backend writes, checked key by key in a real Redis."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from queue_router import Backoff, JobOptions, QueueRouter

pytestmark = pytest.mark.integration

Router = Callable[..., Any]
BULL = {"queues": {"email-send": {"mode": "bull"}}}


async def test_job_hash_and_wait_list(make_router: Router, redis_db: redis.Redis) -> None:
    router: QueueRouter = await make_router(**BULL)
    options = JobOptions(
        attempts=3, backoff=Backoff("exponential", 1000), timeout_ms=5000, remove_on_complete=100
    )
    receipt = await router.enqueue(
        "email-send", {"to": "x@y", "ünï": ["cødé", 1]}, job_id="mail-1", options=options
    )
    assert receipt.backends == ("bull",) and receipt.placements[0].job_id == "mail-1"
    job = redis_db.hgetall("bull:email-send:mail-1")
    assert set(job) == {"name", "data", "opts", "timestamp", "delay", "priority"}
    assert job["name"] == "__default__"
    assert json.loads(job["data"]) == {"to": "x@y", "ünï": ["cødé", 1]}
    opts = json.loads(job["opts"])
    assert opts == {
        "attempts": 3, "delay": 0, "backoff": {"type": "exponential", "delay": 1000},
        "timeout": 5000, "removeOnComplete": 100, "jobId": "mail-1",
        "timestamp": int(job["timestamp"]),
    }  # fmt: skip
    assert (job["delay"], job["priority"]) == ("0", "0")
    assert redis_db.lrange("bull:email-send:wait", 0, -1) == ["mail-1"]
    assert redis_db.get("bull:email-send:id") == "1"


async def test_same_job_id_is_one_job(make_router: Router, redis_db: redis.Redis) -> None:
    router: QueueRouter = await make_router(**BULL)
    first = await router.enqueue("email-send", {"v": 1}, job_id="mail-1")
    second = await router.enqueue("email-send", {"v": 2}, job_id="mail-1")
    assert not first.placements[0].existing and second.placements[0].existing
    assert redis_db.lrange("bull:email-send:wait", 0, -1) == ["mail-1"]
    assert json.loads(redis_db.hget("bull:email-send:mail-1", "data") or "") == {"v": 1}


async def test_priority_order_matches_bull(make_router: Router, redis_db: redis.Redis) -> None:
    router: QueueRouter = await make_router(**BULL)
    for job_id, priority in [("plain-a", None), ("p5", 5), ("p1", 1), ("p3", 3), ("plain-b", None)]:
        await router.enqueue("email-send", {}, job_id=job_id, options=JobOptions(priority=priority))
    await router.enqueue("email-send", {}, job_id="lifo-1", options=JobOptions(lifo=True))
    # Workers take from the tail: LIFO first, then priorities 1, 3, 5, then FIFO.
    taken_first_to_last = list(reversed(redis_db.lrange("bull:email-send:wait", 0, -1)))
    assert taken_first_to_last == ["lifo-1", "p1", "p3", "p5", "plain-a", "plain-b"]
    assert redis_db.zrange("bull:email-send:priority", 0, -1, withscores=True) == [
        ("p1", 1.0), ("p3", 3.0), ("p5", 5.0)
    ]  # fmt: skip


async def test_delayed_job_score_and_event(make_router: Router, redis_db: redis.Redis) -> None:
    router: QueueRouter = await make_router(**BULL)
    pubsub = redis_db.pubsub()  # type: ignore[no-untyped-call]
    pubsub.psubscribe("bull:email-send:*")
    pubsub.get_message(timeout=1)
    await router.enqueue("email-send", {}, job_id="later", options=JobOptions(delay_ms=60_000))
    job = redis_db.hgetall("bull:email-send:later")
    due = int(job["timestamp"]) + 60_000
    assert job["delay"] == "60000"
    delayed: Any = redis_db.zrange("bull:email-send:delayed", 0, -1, withscores=True)
    [(member, score)] = delayed
    assert member == "later" and int(score) == due * 4096 + 1
    assert redis_db.llen("bull:email-send:wait") == 0
    message = pubsub.get_message(timeout=2)
    assert message and message["channel"] == "bull:email-send:delayed"
    assert int(float(message["data"])) == due
    pubsub.close()


async def test_paused_queue_gets_the_job_in_paused(
    make_router: Router, redis_db: redis.Redis
) -> None:
    router: QueueRouter = await make_router(**BULL)
    redis_db.set("bull:email-send:meta-paused", "1")
    await router.enqueue("email-send", {}, job_id="held")
    assert redis_db.lrange("bull:email-send:paused", 0, -1) == ["held"]
    assert not redis_db.exists("bull:email-send:wait")


async def test_waiting_event_carries_token(make_router: Router, redis_db: redis.Redis) -> None:
    router: QueueRouter = await make_router(**BULL)
    pubsub = redis_db.pubsub()  # type: ignore[no-untyped-call]
    pubsub.psubscribe("bull:email-send:waiting*")
    pubsub.get_message(timeout=1)
    await router.enqueue("email-send", {}, job_id="evt-1")
    message = pubsub.get_message(timeout=2)
    assert message and message["channel"].startswith("bull:email-send:waiting@")
    assert len(message["channel"]) > len("bull:email-send:waiting@") and message["data"] == "evt-1"
    pubsub.close()


async def test_hash_tag_prefix_and_job_name(make_router: Router, redis_db: redis.Redis) -> None:
    router: QueueRouter = await make_router(
        bull_prefix="{app}", queues={"email-send": {"mode": "bull", "job_name": "send"}}
    )
    await router.enqueue("email-send", {}, job_id="tagged")
    assert redis_db.hget("{app}:email-send:tagged", "name") == "send"
    assert redis_db.lrange("{app}:email-send:wait", 0, -1) == ["tagged"]
