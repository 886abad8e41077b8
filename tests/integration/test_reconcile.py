"""Dual-write repair on real servers: Temporal is down while jobs are dual-written, so
only Bull takes them; after Temporal is back, ``queue-router reconcile`` writes the
missing side of each, once, and a second run finds nothing to do.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import redis
from temporalio.client import Client

from queue_router import QueueRouter
from queue_router.testing.devservers import TemporalServer, connect_temporal
from tests.conftest import run_cli
from tests.interop.node import TESTS, run_node

QUEUES = {"calc": {"mode": "dual", "legacy": "bull", "workflow_type": "calcJob"}}
JOBS = [f"job-{i}" for i in range(8)]


async def workflows(client: Client, task_queue: str) -> list[str]:
    return sorted([e.id async for e in client.list_workflows(f"TaskQueue = '{task_queue}'")])


async def test_reconcile_writes_the_missed_side_once(
    make_settings: Callable[..., Any], redis_db: redis.Redis, own_temporal: TemporalServer,
    task_queue: str,
) -> None:  # fmt: skip
    router = QueueRouter(make_settings(temporal_cluster_url=own_temporal.target, queues=QUEUES))
    await router.startup()
    own_temporal.kill()
    try:
        for job_id in JOBS:
            receipt = await router.enqueue("calc", {"n": 1}, job_id=job_id)
            assert receipt.backends == ("bull",) and receipt.failures[0].backend == "temporal"
    finally:
        await router.aclose()
    await asyncio.to_thread(own_temporal.start)
    # A real Bull worker completes the first job before the repair: it must not get a twin.
    await run_node(TESTS / "interop" / "bull_worker.js", router.settings.redis.redis_url,
                   "bull", "calc", "1")  # fmt: skip
    env = {"REDIS_URL": router.settings.redis.redis_url, "QUEUE_ROUTER_QUEUES": json.dumps(QUEUES),
           "TEMPORAL_CLUSTER_URL": own_temporal.target, "TEMPORAL_TASK_QUEUE": task_queue}  # fmt: skip
    client = await connect_temporal(own_temporal.target)

    dry = run_cli(["reconcile", "calc", "--dry-run", "--json"], env)
    assert dry.returncode == 0, dry.stderr
    planned = {r["job_id"]: r["action"] for r in json.loads(dry.stdout)}
    assert planned == {"job-0": "completed on bull", **{j: "would write" for j in JOBS[1:]}}
    assert await workflows(client, task_queue) == []

    first = run_cli(["reconcile", "calc", "--json"], env)
    assert first.returncode == 0, first.stderr
    done = {r["job_id"]: r["action"] for r in json.loads(first.stdout)}
    assert done == {"job-0": "completed on bull", **{j: "written" for j in JOBS[1:]}}

    second = run_cli(["reconcile", "calc"], env)
    assert second.returncode == 0 and "nothing to reconcile" in second.stdout, second
    written = [f"calc/{j}" for j in JOBS[1:]]
    for _ in range(20):  # visibility trails the starts
        await asyncio.sleep(0.5)
        if (found := await workflows(client, task_queue)) == written:
            break
    assert found == written
    # Bull still holds each job once: waiting, taken by the worker as it closed, or done.
    held = [*redis_db.lrange("bull:calc:wait", 0, -1), *redis_db.lrange("bull:calc:active", 0, -1)]
    assert sorted(held) == JOBS[1:]
    assert redis_db.zrange("bull:calc:completed", 0, -1) == ["job-0"]
