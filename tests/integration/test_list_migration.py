"""Draining a plain Redis list into Temporal, with SIGKILLs mid-run and a rerun: each
element becomes exactly one workflow with its payload intact, the list and the pending
hash end empty; ``rollback`` puts the elements whose workflows did not run back."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import redis
from temporalio.client import Client

from queue_router import Job, QueueRouter
from tests.conftest import worker_env
from tests.integration.test_migrate_crash import kill_when
from workflows import JobEnvelope

JOBS = 300


async def test_a_list_drains_into_one_workflow_per_element_across_kills(
    make_router: Callable[..., Any], redis_db: redis.Redis, temporal_client: Client,
    spawn_worker: Callable[..., subprocess.Popen[bytes]], task_queue: str,
) -> None:  # fmt: skip
    tag = uuid.uuid4().hex[:6]
    queues = {"ingest": {"legacy": "list", "list_key": "ingest:jobs", "workflow_type": "ingestJob",
                         "workflow_id": f"trace-{tag}-{{job_id}}"}}  # fmt: skip
    router: QueueRouter = await make_router(queues=queues)
    await router.enqueue_many("ingest", [Job({"n": i, "tag": tag}) for i in range(JOBS)])
    elements: list[str] = redis_db.lrange("ingest:jobs", 0, -1)  # type: ignore[assignment]
    ids = {hashlib.sha1(e.encode(), usedforsecurity=False).hexdigest()[:16]: e for e in elements}
    assert len(ids) == JOBS
    env = worker_env(router.settings, QUEUE_ROUTER_QUEUES=json.dumps(queues))
    args = ["migrate", "--queue", "ingest", "--concurrency", "20"]
    ledger, pending = "{ingest:jobs}:queue-router:ledger", "{ingest:jobs}:queue-router:migrating"
    dry = spawn_worker([*args, "--dry-run", "--json"], env)
    output, _ = await asyncio.to_thread(dry.communicate, timeout=120)
    assert json.loads(output)["counts"] == {"valid": JOBS}
    assert redis_db.llen("ingest:jobs") == JOBS and not redis_db.exists(ledger)
    rng = random.Random(13)
    for _ in range(2):
        target = redis_db.hlen(ledger) + rng.randint(20, 80)
        await kill_when(spawn_worker(args, env), lambda: int(redis_db.hlen(ledger)), target)
    final = spawn_worker(args, env)
    output, _ = await asyncio.to_thread(final.communicate, timeout=240)
    assert final.returncode == 0, output.decode()[-2000:]
    assert redis_db.llen("ingest:jobs") == 0 and redis_db.hlen(pending) == 0
    assert sorted(redis_db.hkeys(ledger)) == sorted(ids)

    expected = {f"trace-{tag}-{job_id}" for job_id in ids}
    for _ in range(100):  # visibility lags a little behind the starts
        found = [e.id async for e in temporal_client.list_workflows(f"TaskQueue = '{task_queue}'")]
        runs = Counter(i for i in found if i in expected)
        if len(runs) == JOBS:
            break
        await asyncio.sleep(0.2)
    assert set(runs) == expected and max(runs.values()) == 1
    job_id = next(iter(ids))
    history = await temporal_client.get_workflow_handle(f"trace-{tag}-{job_id}").fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    [envelope] = await temporal_client.data_converter.decode(started.input.payloads, [JobEnvelope])
    assert envelope.data == json.loads(ids[job_id])  # the payload, as pushed

    back = spawn_worker(["rollback", "--queue", "ingest", "--terminate", "--json"], env)
    output, _ = await asyncio.to_thread(back.communicate, timeout=240)
    assert back.returncode == 0, output.decode()[-2000:]
    assert sorted(redis_db.lrange("ingest:jobs", 0, -1)) == sorted(elements)
    assert redis_db.hlen(ledger) == 0
