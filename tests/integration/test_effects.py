"""Side-effect claims on a real Redis: one performer however many runs race."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
import redis

from queue_router.errors import EffectInProgress
from queue_router.processors import EffectClaims, effect_key
from queue_router.testing.devservers import RedisServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def claims(redis_server: RedisServer, redis_db: redis.Redis) -> AsyncIterator[EffectClaims]:
    store = EffectClaims.from_url(redis_server.url, lease_ms=2000, ttl_s=60, poll_s=0.02)
    yield store
    await store.aclose()


def new_key() -> str:
    return effect_key("email-send", f"job-{uuid.uuid4().hex[:8]}", "send")


async def test_racing_runs_perform_the_effect_once(claims: EffectClaims) -> None:
    key, performed = new_key(), []

    async def send() -> dict[str, str]:
        performed.append(1)
        await asyncio.sleep(0.05)
        return {"message_id": "m-1"}

    outcomes = await asyncio.gather(*(claims.run_once(key, send) for _ in range(20)))
    assert len(performed) == 1
    assert sorted(flag for flag, _ in outcomes) == [False] * 19 + [True]
    assert all(result == {"message_id": "m-1"} for _, result in outcomes)


async def test_done_record_follows_the_documented_protocol(
    claims: EffectClaims, redis_db: redis.Redis
) -> None:
    key = new_key()

    async def act() -> int:
        return 7

    await claims.run_once(key, act)
    record = json.loads(str(redis_db.get(key)))
    assert record["state"] == "done" and record["result"] == 7 and len(record["owner"]) == 32
    assert 55 <= int(redis_db.ttl(key)) <= 60


async def test_a_failed_effect_releases_its_claim_for_the_retry(claims: EffectClaims) -> None:
    key = new_key()

    async def broken() -> None:
        raise ConnectionError("smtp dropped")

    with pytest.raises(ConnectionError):
        await claims.run_once(key, broken)

    async def works() -> str:
        return "sent"

    assert await claims.run_once(key, works) == (True, "sent")


async def test_a_pending_claim_held_too_long_asks_for_a_retry(
    redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    key = new_key()
    redis_db.set(key, json.dumps({"state": "pending", "owner": "node-worker", "at": 0}), px=10_000)
    store = EffectClaims.from_url(redis_server.url, wait_s=0.3, poll_s=0.05)

    async def never() -> None:
        raise AssertionError("must not run while another run holds the claim")

    with pytest.raises(EffectInProgress, match="claimed by another run"):
        await store.run_once(key, never)
    await store.aclose()


async def test_a_dead_owners_claim_expires_after_its_lease(
    claims: EffectClaims, redis_db: redis.Redis
) -> None:
    key = new_key()
    redis_db.set(key, json.dumps({"state": "pending", "owner": "dead", "at": 0}), px=300)

    async def act() -> str:
        return "after lease"

    assert await claims.run_once(key, act) == (True, "after lease")


async def test_an_owner_whose_lease_ran_out_does_not_overwrite_the_new_owner(
    claims: EffectClaims, redis_db: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    key = new_key()

    async def too_slow() -> str:
        redis_db.set(key, json.dumps({"state": "pending", "owner": "other", "at": 0}), px=5000)
        return "late"

    assert await claims.run_once(key, too_slow) == (True, "late")
    assert json.loads(str(redis_db.get(key)))["owner"] == "other"
    assert "after its claim's lease" in caplog.text


async def test_the_done_record_survives_a_redis_restart_during_the_effect() -> None:
    """The worker's pooled connection dies with Redis; the done write must still land."""
    with RedisServer() as server:
        store = EffectClaims.from_url(server.url, lease_ms=10_000, ttl_s=60, poll_s=0.02)
        key = new_key()
        try:

            async def send_while_redis_restarts() -> dict[str, str]:
                server.kill()  # every pooled connection is now dead
                asyncio.get_running_loop().call_later(1.0, server.start)
                return {"message_id": "m-restart"}

            performed, result = await store.run_once(key, send_while_redis_restarts)
            assert performed and result == {"message_id": "m-restart"}
            with redis.Redis.from_url(server.url, decode_responses=True) as client:
                record = json.loads(client.get(key) or "{}")
            assert record["state"] == "done" and record["result"] == result
            again, replayed = await store.run_once(key, send_while_redis_restarts)
            assert (again, replayed) == (False, result)  # a second run replays, never repeats
        finally:
            await store.aclose()
