"""A job id holds across fallback in every process: the placement memory in Redis."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import redis
from temporalio.client import Client

from queue_router import EnqueueOutcomeUnknown, Job, QueueRouter, Receipt
from queue_router.processors import JobContext, Registry
from queue_router.testing.devservers import TemporalServer, connect_temporal, free_port
from queue_router.workers.temporal import run_worker
from tests.conftest import REPO
from tests.proxy import ToggleProxy
from workflows import JobResult

pytestmark = pytest.mark.integration


def enqueue_elsewhere(env: dict[str, str], queue: str, job_id: str) -> dict[str, Any]:
    """One enqueue from a separate Python process, configured by env vars only."""
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "QUEUE_ROUTER_"))
    }
    out = subprocess.run(
        [sys.executable, "-m", "tests.enqueue_once", queue, job_id],
        env={**clean, "PYTHONPATH": str(REPO), **env}, cwd=REPO,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def test_a_job_completed_in_temporal_never_falls_back_from_another_process(
    make_settings: Callable[..., Any], own_temporal: TemporalServer, redis_db: redis.Redis,
    task_queue: str,
) -> None:  # fmt: skip
    registry = Registry()

    @registry.processor("email-send")
    async def send(job: JobContext) -> str:
        return "sent"

    settings = make_settings(temporal_cluster_url=own_temporal.target, use_temporal_workflows=True)
    client = await connect_temporal(own_temporal.target)
    stop, ready = asyncio.Event(), asyncio.Event()
    worker = asyncio.create_task(
        run_worker(settings, stop=stop, registry=registry, client=client, on_ready=ready.set)
    )
    try:
        await asyncio.wait_for(ready.wait(), 30)
        async with QueueRouter(settings) as router:
            receipt = await router.enqueue("email-send", {"to": "a"}, job_id="done-1")
        handle = client.get_workflow_handle(receipt.placements[0].job_id, result_type=JobResult)
        assert (await asyncio.wait_for(handle.result(), 30)).result == "sent"  # completed
    finally:
        stop.set()
        await worker

    own_temporal.kill()  # Temporal is down; fallback is on (the default)
    env = {
        "REDIS_URL": settings.redis.redis_url,
        "TEMPORAL_CLUSTER_URL": own_temporal.target,
        "TEMPORAL_TASK_QUEUE": task_queue,
        "USE_TEMPORAL_WORKFLOWS": "true",
        "QUEUE_ROUTER_TEMPORAL_RETRY_MS": "300",
    }
    again = enqueue_elsewhere(env, "email-send", "done-1")
    assert again["outcome"] == "ok", again
    assert (again["backends"], again["existing"], again["fell_back"]) == (["temporal"], True, False)
    assert (
        again["detail"]["remembered"] is True
        and "cannot reach Temporal" in again["detail"]["temporal_now"]
    )
    assert not redis_db.exists("bull:email-send:done-1"), "a legacy copy would run the job again"
    fresh = enqueue_elsewhere(env, "email-send", "fresh-1")  # a new id still falls back
    assert (fresh["outcome"], fresh["backends"], fresh["fell_back"]) == ("ok", ["bull"], True)


async def test_a_doubt_seen_by_one_process_stops_another_from_falling_back(
    make_router: Callable[..., Any], temporal_server: TemporalServer,
    temporal_client: Client, redis_db: redis.Redis, task_queue: str,
) -> None:  # fmt: skip
    proxy = ToggleProxy(temporal_server.port)
    await proxy.start()
    try:
        a: QueueRouter = await make_router(
            use_temporal_workflows=True, temporal_cluster_url=f"127.0.0.1:{proxy.port}",
            temporal_rpc_timeout_ms=500, temporal_retry_ms=200,
        )  # fmt: skip
        await a.enqueue("email-send", {}, job_id="warm-up")
        proxy.mode = "drop_replies"  # A's start is persisted; no answer ever reaches A
        with pytest.raises(EnqueueOutcomeUnknown):
            await a.enqueue("email-send", {"n": 1}, job_id="amb-1")
    finally:
        await proxy.close()

    outage = {  # process B meets a Temporal outage: nothing listens there
        "REDIS_URL": a.settings.redis.redis_url,
        "TEMPORAL_CLUSTER_URL": f"127.0.0.1:{free_port()}",
        "TEMPORAL_TASK_QUEUE": task_queue,
        "USE_TEMPORAL_WORKFLOWS": "true",
        "QUEUE_ROUTER_TEMPORAL_RETRY_MS": "300",
    }
    b = enqueue_elsewhere(outage, "email-send", "amb-1")
    assert b["outcome"] == "unknown" and "unknown outcome, so no fallback" in b["error"], b
    assert not redis_db.exists("bull:email-send:amb-1")
    runs = await temporal_client.count_workflows("WorkflowId = 'email-send/amb-1'")
    assert runs.count == 1


async def test_with_redis_down_too_the_answer_is_unknown_not_a_fallback(
    make_router: Callable[..., Any],
) -> None:
    router: QueueRouter = await make_router(
        use_temporal_workflows=True, temporal_retry_ms=200,
        temporal_cluster_url=f"127.0.0.1:{free_port()}",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
    )  # fmt: skip
    with pytest.raises(EnqueueOutcomeUnknown, match="cannot be checked"):
        await router.enqueue("email-send", {}, job_id="dark-1")


async def test_jobs_placed_by_enqueue_many_never_fall_back_from_another_router(
    make_router: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    """``enqueue_many`` writes its records in batches; each is in Redis once it returns."""
    a: QueueRouter = await make_router(use_temporal_workflows=True)
    ids = [f"many-{i}" for i in range(120)]
    results = await a.enqueue_many("email-send", [Job({"i": i}, job_id=i) for i in ids])
    assert all(isinstance(r, Receipt) and r.backends == ("temporal",) for r in results)
    b: QueueRouter = await make_router(  # its own memory; Temporal unreachable from it
        use_temporal_workflows=True, temporal_cluster_url=f"127.0.0.1:{free_port()}",
        temporal_retry_ms=200,
    )  # fmt: skip
    again = await b.enqueue_many("email-send", [Job({}, job_id=i) for i in [*ids, "new-1"]])
    for job_id, receipt in zip(ids, again, strict=False):
        assert isinstance(receipt, Receipt) and not receipt.fell_back, (job_id, receipt)
        assert receipt.placements[0].detail["remembered"] is True
    assert isinstance(again[-1], Receipt) and again[-1].fell_back  # a new id still falls back
    assert [key for key in redis_db.keys("bull:email-send:*") if ":many-" in key] == []
