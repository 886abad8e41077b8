"""Every mode end to end on the real servers: the job is really in Redis / Temporal."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import redis
from rq.job import Job
from rq.serializers import JSONSerializer
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from queue_router import JobOptions, Mode, QueueRouter, SyncQueueRouter
from tests.counts import Counts
from tests.relay import copies_waiting, relay_once
from workflows.envelope import workflow_id

pytestmark = pytest.mark.integration

Router = Callable[..., Any]


async def exists_in_temporal(client: Client, wf_id: str) -> bool:
    try:
        await client.get_workflow_handle(wf_id).describe()
        return True
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise


async def test_temporal_mode_starts_the_catalogue_workflow(
    make_router: Router, temporal_client: Client, task_queue: str
) -> None:
    router: QueueRouter = await make_router(use_temporal_workflows=True)
    receipt = await router.enqueue(
        "document-export-pdf", {"doc": 7}, job_id="pdf-1", options=JobOptions(attempts=4)
    )
    placement = receipt.placements[0]
    assert (receipt.mode, receipt.percentage, placement.backend) == (
        Mode.PERCENTAGE, 100, "temporal"
    )  # fmt: skip
    assert placement.job_id == workflow_id("document-export-pdf", "pdf-1")
    described = await temporal_client.get_workflow_handle(placement.job_id).describe()
    assert described.workflow_type == "documentPdfExport"
    assert described.task_queue == task_queue
    assert described.run_id == placement.run_id
    assert described.status == WorkflowExecutionStatus.RUNNING
    assert await described.memo() == {}  # the queue and job id: in the id and the input
    history = await temporal_client.get_workflow_handle(placement.job_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    envelope = json.loads(started.input.payloads[0].data)
    assert envelope["data"] == {"doc": 7} and envelope["options"]["attempts"] == 4


async def test_delay_becomes_start_delay(make_router: Router, temporal_client: Client) -> None:
    router: QueueRouter = await make_router(use_temporal_workflows=True)
    receipt = await router.enqueue(
        "email-send", {}, job_id="later-1", options=JobOptions(delay_ms=90_000)
    )
    handle = temporal_client.get_workflow_handle(receipt.placements[0].job_id)
    history = await handle.fetch_history()
    attrs = history.events[0].workflow_execution_started_event_attributes
    assert attrs.first_workflow_task_backoff.ToTimedelta() == timedelta(seconds=90)


async def test_temporal_idempotency_running_and_closed(
    make_router: Router, temporal_client: Client
) -> None:
    router: QueueRouter = await make_router(use_temporal_workflows=True)
    first = await router.enqueue("ruling-index", {}, job_id="r-1")
    concurrent = await asyncio.gather(
        *(router.enqueue("ruling-index", {}, job_id="r-1") for _ in range(20))
    )
    run_ids = {r.placements[0].run_id for r in concurrent}
    assert run_ids == {first.placements[0].run_id}
    assert all(r.placements[0].existing for r in concurrent)
    handle = temporal_client.get_workflow_handle(first.placements[0].job_id)
    await handle.terminate("test: close the run")
    again = await router.enqueue("ruling-index", {}, job_id="r-1")
    assert again.placements[0].existing and again.placements[0].run_id == first.placements[0].run_id
    count = await temporal_client.count_workflows(f"WorkflowId = '{handle.id}'")
    assert count.count == 1


async def test_percentage_mode_places_jobs_where_routed(
    make_router: Router, redis_db: redis.Redis, temporal_client: Client
) -> None:
    router: QueueRouter = await make_router(temporal_traffic_percentage=30)
    receipts = await asyncio.gather(
        *(
            router.enqueue("email-send", {"i": i}, key=f"user-{i}", job_id=f"m-{i}")
            for i in range(200)
        )
    )
    for receipt in receipts:
        route = router.route("email-send", f"user-{receipt.job_id[2:]}")
        in_bull = bool(redis_db.exists(f"bull:email-send:{receipt.job_id}"))
        in_temporal = await exists_in_temporal(
            temporal_client, workflow_id("email-send", receipt.job_id)
        )
        assert (in_bull, in_temporal) == (not route.to_temporal, route.to_temporal)
        assert receipt.backends == (route.primary,)
    assert 30 < sum(r.backends == ("temporal",) for r in receipts) < 90


async def test_rq_mode(make_router: Router, redis_db: redis.Redis, redis_server: Any) -> None:
    router: QueueRouter = await make_router(
        rq_serializer="json",
        queues={"ai-process-query": {"mode": "rq", "rq_function": "app.tasks.ask"}},
    )
    options = JobOptions(attempts=3, timeout_ms=1500)
    receipt = await router.enqueue("ai-process-query", {"q": "why"}, job_id="ai-1", options=options)
    again = await router.enqueue("ai-process-query", {"q": "other"}, job_id="ai-1")
    assert receipt.backends == ("rq",) and again.placements[0].existing
    assert redis_db.lrange("rq:queue:ai-process-query", 0, -1) == ["ai-1"]
    with redis.Redis.from_url(redis_server.url) as connection:
        job = Job.fetch("ai-1", connection=connection, serializer=JSONSerializer)
    assert (job.func_name, list(job.args)) == ("app.tasks.ask", [{"q": "why"}])
    assert job.meta["queue_router"]["queue"] == "ai-process-query"
    assert (job.retries_left, job.timeout) == (2, 2)


async def test_rq_delay_goes_to_the_scheduled_registry(
    make_router: Router, redis_db: redis.Redis
) -> None:
    router: QueueRouter = await make_router(queues={"ai-process-query": {"mode": "rq"}})
    await router.enqueue("ai-process-query", {}, job_id="ai-2", options=JobOptions(delay_ms=60_000))
    assert redis_db.zrange("rq:scheduled:ai-process-query", 0, -1) == ["ai-2"]
    assert redis_db.llen("rq:queue:ai-process-query") == 0


async def test_dual_mode_writes_both(
    make_router: Router, redis_db: redis.Redis, temporal_client: Client
) -> None:
    router: QueueRouter = await make_router(temporal_dual_write=True)
    receipt = await router.enqueue("webhook-deliver", {"url": "https://x"}, job_id="wh-1")
    assert receipt.backends == ("bull", "temporal") and not receipt.failures
    assert redis_db.exists("bull:webhook-deliver:wh-1")
    assert await exists_in_temporal(temporal_client, workflow_id("webhook-deliver", "wh-1"))
    assert receipt.placements[1].job_id == workflow_id("webhook-deliver", "wh-1")


@pytest.mark.parametrize("starts", ["in-process", "worker"])
async def test_shadow_mode_runs_a_marked_copy(
    make_router: Router, redis_db: redis.Redis, temporal_client: Client, starts: str
) -> None:
    counts = Counts()
    router: QueueRouter = await make_router(temporal_shadow_mode=True, shadow_starts=starts)
    job_id = f"sh-{starts}"  # one Temporal server for the whole run: an id per case
    receipt = await router.enqueue("email-send", {"to": "a"}, job_id=job_id)
    assert receipt.backends == ("bull",) and receipt.shadow_started
    assert redis_db.exists(f"bull:email-send:{job_id}")
    await router.aclose()  # drains the shadow start, or its handoff
    shadow_id = workflow_id("email-send", job_id, shadow=True)
    assert shadow_id == f"shadow/email-send/{job_id}"
    if starts == "worker":  # waits in Redis until a worker's relay starts it
        assert copies_waiting(redis_db) == 1
        assert not await exists_in_temporal(temporal_client, shadow_id)
        await relay_once(temporal_client, redis_db)
        assert copies_waiting(redis_db) == 0
    described = await temporal_client.get_workflow_handle(shadow_id).describe()
    assert (await described.memo())["shadow"] is True
    assert not await exists_in_temporal(temporal_client, workflow_id("email-send", job_id))
    assert counts("queue_router_shadow_total", queue="email-send", result="ok") == 1


def test_sync_facade_on_real_servers(
    make_settings: Callable[..., Any], redis_db: redis.Redis
) -> None:
    with SyncQueueRouter.from_env(
        redis_url=make_settings().redis.redis_url, queues={"email-send": {"mode": "bull"}}
    ) as router:
        receipt = router.enqueue_sync("email-send", {"to": "a"}, job_id="sync-1")
    assert receipt.backends == ("bull",) and redis_db.exists("bull:email-send:sync-1")
