"""``migrate`` and ``rollback`` on real Redis and Temporal."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from rq import Queue
from temporalio.client import Client

from queue_router import Job, JobOptions, QueueRouter, Settings
from queue_router.cli.migration import open_migrator
from queue_router.migration import MigrationPlan, Migrator, rollback
from workflows import JobEnvelope, workflow_id

pytestmark = pytest.mark.integration

QUEUE = "document-generation"


@pytest.fixture
async def migrator(
    make_settings: Callable[..., Settings], redis_db: redis.Redis
) -> AsyncIterator[Migrator]:
    async with open_migrator(make_settings()) as m:
        yield m


async def envelope_of(client: Client, wf_id: str) -> JobEnvelope:
    history = await client.get_workflow_handle(wf_id).fetch_history()
    event = history.events[0].workflow_execution_started_event_attributes
    [payload] = event.input.payloads
    return JobEnvelope(**json.loads(payload.data))


def bull_snapshot(db: redis.Redis, queue: str = QUEUE) -> dict[str, Any]:
    """Every job hash and container of a Bull queue, for before/after comparisons."""
    prefix = f"bull:{queue}:"
    jobs = {k.removeprefix(prefix): db.hgetall(k) for k in db.scan_iter(prefix + "*")
            if db.type(k) == "hash" and k.count(":") == 2}  # fmt: skip
    return {
        "jobs": jobs,
        "wait": sorted(db.lrange(prefix + "wait", 0, -1)),
        "delayed": db.zrange(prefix + "delayed", 0, -1, withscores=True),
        "priority": db.zrange(prefix + "priority", 0, -1, withscores=True),
        "failed": db.zrange(prefix + "failed", 0, -1, withscores=True),
    }


async def fill(router: QueueRouter, tag: str) -> list[str]:
    ids = []
    for n in range(5):
        ids.append(f"{tag}-plain-{n}")
        await router.enqueue(QUEUE, {"n": n, "text": "ünï"}, job_id=ids[-1],
                             options=JobOptions(attempts=3))  # fmt: skip
    await router.enqueue(QUEUE, {"p": 1}, job_id=f"{tag}-prio", options=JobOptions(priority=2))
    await router.enqueue(
        QUEUE, {"d": 1}, job_id=f"{tag}-later", options=JobOptions(delay_ms=60_000)
    )
    return [*ids, f"{tag}-prio", f"{tag}-later"]


async def test_migrate_moves_waiting_and_delayed_jobs_into_workflows(
    make_router: Callable[..., Any], migrator: Migrator, temporal_client: Client,
    redis_db: redis.Redis,
) -> None:  # fmt: skip
    router = await make_router(queues={QUEUE: {"mode": "bull"}})
    ids = await fill(router, "m1")
    before = bull_snapshot(redis_db)
    report = await migrator.run(MigrationPlan([QUEUE], states=("waiting", "delayed")))
    assert report.counts() == {"moved": 7}, report.as_json()
    after = bull_snapshot(redis_db)
    assert after["jobs"] == {} and after["wait"] == [] and after["delayed"] == []
    for job_id in ids:
        envelope = await envelope_of(temporal_client, workflow_id(QUEUE, job_id))
        assert envelope.data == json.loads(before["jobs"][job_id]["data"])
    desc = await temporal_client.get_workflow_handle(workflow_id(QUEUE, "m1-plain-0")).describe()
    assert desc.workflow_type == "documentGeneration"
    ledger = await migrator.legacy_queue(migrator.settings.queue(QUEUE)).ledger()
    assert set(ledger) == set(ids) and ledger["m1-later"]["state"] == "delayed"
    # A second run finds nothing left and starts nothing.
    again = await migrator.run(MigrationPlan([QUEUE], states=("waiting", "delayed")))
    assert again.outcomes == []


async def test_bad_jobs_are_reported_and_left_where_they_were(
    make_router: Callable[..., Any], make_settings: Callable[..., Settings], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router = await make_router(queues={QUEUE: {"mode": "bull"}})
    await router.enqueue(QUEUE, {"ok": True}, job_id="good-1")
    redis_db.hset(f"bull:{QUEUE}:bad-json", mapping={"name": "x", "data": "{oops", "opts": "{}"})
    redis_db.lpush(f"bull:{QUEUE}:wait", "bad-json")
    redis_db.hset(f"bull:{QUEUE}:not-text", mapping={"name": "x", "data": b'{"a": "\xff"}'})
    redis_db.lpush(f"bull:{QUEUE}:wait", "not-text")
    await router.enqueue(QUEUE, {"big": "x" * 10_000}, job_id="too-big")
    redis_db.hset(f"bull:{QUEUE}:busy", mapping={"name": "x", "data": "{}", "opts": "{}"})
    redis_db.lpush(f"bull:{QUEUE}:wait", "busy")
    redis_db.set(f"bull:{QUEUE}:busy:lock", "worker-token", px=30_000)
    async with open_migrator(make_settings(max_payload_bytes=8192)) as migrator:
        report = await migrator.run(MigrationPlan([QUEUE]))
    by_id = {o.job_id: o for o in report.outcomes}
    assert by_id["good-1"].outcome == "moved"
    assert by_id["bad-json"].outcome == "invalid" and "invalid JSON" in by_id["bad-json"].reason
    assert by_id["not-text"].outcome == "invalid" and "UTF-8" in by_id["not-text"].reason
    assert by_id["too-big"].outcome == "invalid" and "over the" in by_id["too-big"].reason
    assert by_id["busy"].outcome == "skipped" and "locked" in by_id["busy"].reason
    left = ["bad-json", "busy", "not-text", "too-big"]
    assert sorted(redis_db.lrange(f"bull:{QUEUE}:wait", 0, -1)) == left
    assert not report.ok


async def test_connections_dropped_mid_migration_are_resent_and_every_job_moves_once(
    make_router: Callable[..., Any], migrator: Migrator, redis_db: redis.Redis,
    temporal_client: Client,
) -> None:  # fmt: skip
    """Redis drops the migration's connections (``CLIENT KILL``) while jobs are between
    read, hold and confirm: each step is sent again, and every job ends in the ledger once
    with its workflow, none left in the queue or held."""
    router = await make_router(queues={QUEUE: {"mode": "bull"}})
    ids = [f"drop-{n:03d}" for n in range(300)]
    await router.enqueue_many(QUEUE, [Job({"n": n}, job_id=i) for n, i in enumerate(ids)])
    killed: list[int] = []

    async def drop_connections() -> None:
        for _ in range(6):
            await asyncio.sleep(0.05)
            killed.append(redis_db.client_kill_filter(_type="normal", skipme=True))

    dropping = asyncio.create_task(drop_connections())
    report = await migrator.run(MigrationPlan([QUEUE]))
    await dropping
    assert sum(killed) >= 3, killed  # the drops met the migration's connections
    assert report.counts() == {"moved": 300}, report.as_json()
    assert (
        redis_db.llen(f"bull:{QUEUE}:wait") == 0
        and redis_db.hlen(f"bull:{QUEUE}:qr-migrating") == 0
    )
    ledger = await migrator.legacy_queue(migrator.settings.queue(QUEUE)).ledger()
    assert sorted(ledger) == ids
    handle = temporal_client.get_workflow_handle(workflow_id(QUEUE, ids[-1]))
    assert (await handle.describe()).run_id == ledger[ids[-1]]["run_id"]


async def test_dry_run_validates_and_writes_nothing(
    make_router: Callable[..., Any], migrator: Migrator, temporal_client: Client,
    redis_db: redis.Redis,
) -> None:  # fmt: skip
    router = await make_router(queues={QUEUE: {"mode": "bull"}})
    await fill(router, "dry")
    before = bull_snapshot(redis_db)
    report = await migrator.run(MigrationPlan([QUEUE], states=("waiting", "delayed"), dry_run=True))
    assert report.counts() == {"valid": 7}
    assert bull_snapshot(redis_db) == before
    query = f"WorkflowId = '{workflow_id(QUEUE, 'dry-plain-0')}'"
    assert (await temporal_client.count_workflows(query)).count == 0


async def test_temporal_down_puts_the_job_back(
    make_router: Callable[..., Any], make_settings: Callable[..., Settings], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router = await make_router(queues={QUEUE: {"mode": "bull"}})
    await router.enqueue(QUEUE, {"x": 1}, job_id="unlucky")
    before = bull_snapshot(redis_db)
    async with open_migrator(make_settings(temporal_cluster_url="127.0.0.1:1")) as migrator:
        report = await migrator.run(MigrationPlan([QUEUE]))
    [outcome] = report.outcomes
    assert outcome.outcome == "failed" and "job put back" in outcome.reason
    assert bull_snapshot(redis_db) == before


async def test_rq_jobs_migrate_with_their_data(
    make_router: Callable[..., Any], migrator: Migrator, temporal_client: Client,
    redis_db: redis.Redis, redis_server: Any,
) -> None:  # fmt: skip
    router = await make_router(queues={QUEUE: {"mode": "rq", "legacy": "rq"}})
    await router.enqueue(QUEUE, {"via": "router"}, job_id="rq-1", options=JobOptions(attempts=2))
    plain = Queue(QUEUE, connection=redis.Redis.from_url(redis_server.url))
    plain.enqueue("billing.tasks.render", 42, style="a4", job_id="rq-legacy")
    migrator.settings = dataclasses.replace(migrator.settings, routing=router.settings.routing)
    report = await migrator.run(MigrationPlan([QUEUE]))
    assert report.counts() == {"moved": 2}, report.as_json()
    assert (await envelope_of(temporal_client, workflow_id(QUEUE, "rq-1"))).options["attempts"] == 2
    legacy = await envelope_of(temporal_client, workflow_id(QUEUE, "rq-legacy"))
    assert legacy.data == {"func": "billing.tasks.render", "args": [42], "kwargs": {"style": "a4"}}
    assert redis_db.llen(f"rq:queue:{QUEUE}") == 0 and not redis_db.exists("rq:job:rq-1")


@pytest.mark.parametrize("terminate", [True, False])
async def test_rollback_restores_the_queue_exactly(
    terminate: bool, make_router: Callable[..., Any], migrator: Migrator,
    temporal_client: Client, redis_db: redis.Redis, start_worker: Callable[..., Any],
) -> None:  # fmt: skip
    if not terminate:  # a cancel needs a worker to deliver it; the processor never finishes
        from queue_router.processors import JobContext, Registry

        registry = Registry()

        @registry.processor(QUEUE)
        async def stuck(job: JobContext) -> None:
            import asyncio

            await asyncio.sleep(3600)

        await start_worker(registry, worker_shutdown_grace_ms=0)
    router = await make_router(queues={QUEUE: {"mode": "bull"}})
    tag = f"rb{uuid.uuid4().hex[:4]}"
    await fill(router, tag)
    before = bull_snapshot(redis_db)
    await migrator.run(MigrationPlan([QUEUE], states=("waiting", "delayed")))
    assert bull_snapshot(redis_db)["jobs"] == {}
    client = await migrator.temporal.client()
    report = await rollback(migrator, client, [QUEUE], terminate=terminate)
    assert report.counts() == {"restored": 7}, report.as_json()
    assert bull_snapshot(redis_db) == before
    status = (
        await temporal_client.get_workflow_handle(workflow_id(QUEUE, f"{tag}-prio")).describe()
    ).status
    assert status is not None and status.name == ("TERMINATED" if terminate else "CANCELED")
    again = await rollback(migrator, client, [QUEUE], terminate=terminate)
    assert again.counts() == {"skipped": 7} and bull_snapshot(redis_db) == before
