"""Jobs real Bull wrote, in every state, as our migration code reads and moves them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest
import redis
import redis.asyncio as aioredis
from temporalio.client import Client

from queue_router import Settings
from queue_router.cli.migration import open_migrator
from queue_router.migration import BullQueue, MigrationPlan
from queue_router.testing.devservers import RedisServer
from tests.interop.node import TESTS, run_node
from workflows import JobEnvelope, workflow_id

pytestmark = [pytest.mark.integration, pytest.mark.interop]

ADMIN = TESTS / "interop" / "bull_admin.js"
QUEUE = "ai-generate-document"


@pytest.fixture
async def bull_written(
    redis_server: RedisServer, redis_db: redis.Redis
) -> AsyncIterator[BullQueue]:
    await run_node(ADMIN, redis_server.url, QUEUE, "produce")
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    async with BullQueue(client, QUEUE) as queue:  # closes its shared connection
        yield queue
    await client.aclose()


async def bull_counts(redis_server: RedisServer) -> dict[str, int]:
    return dict(json.loads(await run_node(ADMIN, redis_server.url, QUEUE, "counts")))


async def test_we_read_every_state_bull_wrote(
    bull_written: BullQueue, redis_server: RedisServer
) -> None:
    queue = bull_written
    assert await queue.ids("waiting") == ["p2", "p1", "l1", "w1", "w2"]  # Bull's processing order
    assert await queue.ids("prioritized") == ["p2", "p1"]
    assert await queue.ids("delayed") == ["d1"]
    assert await queue.ids("failed") == ["f1"]
    assert await queue.ids("completed") == ["c1"]
    w1 = await queue.read("w1", "waiting")
    assert w1 is not None and w1.problem is None and w1.name == "render"
    assert w1.data == {"text": "日本語 🚀", "nested": {"list": [1, 2.5, None, True]}}
    assert w1.opts["attempts"] == 3 and w1.opts["backoff"] == {"type": "exponential", "delay": 500}
    d1 = await queue.read("d1", "delayed")
    assert d1 is not None and d1.due_ms == d1.timestamp_ms + 3_600_000
    f1 = await queue.read("f1", "failed")
    assert f1 is not None and f1.failed_reason == "kaputt: ünïcode reason" and f1.attempts_made == 1
    ours = await queue.counts()
    theirs = await bull_counts(redis_server)
    assert {k: ours[k] for k in theirs} == theirs


async def test_migration_moves_what_bull_wrote_and_bull_agrees(
    bull_written: BullQueue, redis_server: RedisServer, make_settings: Callable[..., Settings],
    temporal_client: Client,
) -> None:  # fmt: skip
    settings = make_settings(queues={QUEUE: {"mode": "bull"}})
    async with open_migrator(settings) as migrator:
        report = await migrator.run(MigrationPlan([QUEUE], states=("waiting", "delayed", "failed")))
    assert report.counts() == {"moved": 7}, report.as_json()
    assert await bull_counts(redis_server) == {
        "waiting": 0, "paused": 0, "active": 0, "completed": 1, "failed": 0, "delayed": 0,
    }  # fmt: skip
    history = await temporal_client.get_workflow_handle(workflow_id(QUEUE, "w1")).fetch_history()
    [payload] = history.events[0].workflow_execution_started_event_attributes.input.payloads
    envelope = JobEnvelope(**json.loads(payload.data))
    assert envelope.name == "render" and envelope.options["attempts"] == 3
    assert envelope.data["text"] == "日本語 🚀"
    info = (
        await temporal_client.get_workflow_handle(workflow_id(QUEUE, "d1")).describe()
    ).raw_description.workflow_execution_info
    wait_s = info.execution_time.seconds - info.start_time.seconds
    assert 3500 < wait_s <= 3600  # the delayed job keeps its due time as the start delay
