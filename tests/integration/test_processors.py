"""Processors under Temporal: every catalogue workflow, retries as Bull's options say, errors."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ActivityError, ApplicationError

from queue_router import Backoff, JobOptions
from queue_router.config.catalogue import DEFAULT_CATALOGUE
from queue_router.errors import PermanentJobError
from queue_router.processors import JobContext, Registry
from workflows import JobEnvelope, JobResult, workflow_id

pytestmark = pytest.mark.integration


async def result_of(client: Client, wf_id: str) -> JobResult:
    result: JobResult = await client.get_workflow_handle(wf_id, result_type=JobResult).result()
    return result


async def test_every_catalogue_workflow_runs_its_queue_processor(
    make_router: Callable[..., Any], start_worker: Callable[..., Any], temporal_client: Client
) -> None:
    registry = Registry()

    @registry.processor(*DEFAULT_CATALOGUE)
    async def echo(job: JobContext) -> dict[str, Any]:
        return {
            "queue": job.queue,
            "data": job.data,
            "runtime": job.runtime,
            "attempt": job.attempt,
        }

    await start_worker(registry)
    router = await make_router(use_temporal_workflows=True)
    suffix = uuid.uuid4().hex[:8]
    receipts = {
        q: await router.enqueue(q, {"n": i}, job_id=f"cat-{suffix}")
        for i, q in enumerate(DEFAULT_CATALOGUE)
    }
    for i, (queue, receipt) in enumerate(receipts.items()):
        placement = receipt.placement("temporal")
        assert placement.detail["workflow_type"] == DEFAULT_CATALOGUE[queue].workflow_type
        result = await result_of(temporal_client, placement.job_id)
        assert result.result == {
            "queue": queue,
            "data": {"n": i},
            "runtime": "temporal",
            "attempt": 1,
        }
        assert (result.queue, result.job_id, result.shadow) == (queue, f"cat-{suffix}", False)
    types = {DEFAULT_CATALOGUE[q].workflow_type for q in receipts}
    assert len(types) == 8


@pytest.mark.parametrize(("attempts", "completes"), [(3, True), (2, False)])
async def test_bull_attempts_become_the_retry_policy(
    attempts: int, completes: bool,
    make_router: Callable[..., Any], start_worker: Callable[..., Any], temporal_client: Client,
) -> None:  # fmt: skip
    """A processor that fails twice then succeeds: done with attempts=3, failed with 2."""
    registry = Registry()
    runs: Counter[str] = Counter()

    @registry.processor("document-generation")
    async def flaky(job: JobContext) -> int:
        runs[job.job_id] += 1
        assert job.attempt == runs[job.job_id]
        if job.attempt <= 2:
            raise RuntimeError(f"transient failure {job.attempt}")
        return job.attempt

    await start_worker(registry)
    router = await make_router(use_temporal_workflows=True)
    options = JobOptions(attempts=attempts, backoff=Backoff("fixed", 50))
    job_id = f"flaky-{uuid.uuid4().hex[:8]}"
    await router.enqueue("document-generation", {}, job_id=job_id, options=options)
    wf_id = workflow_id("document-generation", job_id)
    if completes:
        assert (await result_of(temporal_client, wf_id)).result == 3
    else:
        with pytest.raises(WorkflowFailureError) as failure:
            await result_of(temporal_client, wf_id)
        assert isinstance(failure.value.cause, ActivityError)
        assert "transient failure 2" in str(failure.value.cause.cause)
    assert runs[job_id] == min(attempts, 3)


async def test_exponential_backoff_waits_between_attempts(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    registry = Registry()
    seen: list[float] = []

    @registry.processor("ai-process-query")
    async def slow_to_succeed(job: JobContext) -> int:
        seen.append(asyncio.get_running_loop().time())
        if job.attempt < 3:
            raise RuntimeError("not yet")
        return job.attempt

    await start_worker(registry)
    envelope = JobEnvelope("ai-process-query", "exp-1", "q", {},
                           {"attempts": 3, "backoff": {"type": "exponential", "delay": 400}})  # fmt: skip
    result = await temporal_client.execute_workflow(
        "aiQueryProcessing", envelope, id=f"exp-{uuid.uuid4()}", task_queue=task_queue,
        result_type=JobResult,
    )  # fmt: skip
    assert result.result == 3
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    assert gaps[0] >= 0.35 and gaps[1] >= 0.75, gaps  # 400 ms, then 800 ms


@pytest.mark.parametrize("queue", ["ruling-index", "webhook-deliver"])
async def test_missing_processor_fails_once_naming_the_queue(
    queue: str, start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    await start_worker(Registry())
    envelope = JobEnvelope(queue, "nobody", "index", {}, {"attempts": 5})
    with pytest.raises(WorkflowFailureError) as failure:
        await temporal_client.execute_workflow(
            DEFAULT_CATALOGUE[queue].workflow_type, envelope, id=f"none-{uuid.uuid4()}",
            task_queue=task_queue,
        )  # fmt: skip
    cause = failure.value.cause
    assert isinstance(cause, ActivityError) and isinstance(cause.cause, ApplicationError)
    assert cause.cause.type == "ProcessorNotRegistered" and cause.cause.non_retryable
    assert f"no processor registered for queue {queue!r}" in str(cause.cause)
    assert cause.retry_state is not None and cause.retry_state.name == "NON_RETRYABLE_FAILURE"


async def test_permanent_job_error_is_not_retried(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    registry = Registry()
    runs: list[int] = []

    @registry.processor("document-export-pdf")
    async def bad_input(job: JobContext) -> None:
        runs.append(job.attempt)
        raise PermanentJobError("field 'template' is missing")

    await start_worker(registry)
    envelope = JobEnvelope("document-export-pdf", "p1", "export", {}, {"attempts": 5})
    with pytest.raises(WorkflowFailureError):
        await temporal_client.execute_workflow(
            "documentPdfExport", envelope, id=f"perm-{uuid.uuid4()}", task_queue=task_queue
        )
    assert runs == [1]


async def run_many(count: int, start_worker: Callable[..., Any], make_router: Callable[..., Any],
                   temporal_client: Client) -> None:  # fmt: skip
    registry = Registry()

    @registry.processor("notification-push")
    async def push(job: JobContext) -> int:
        await asyncio.sleep(0.01)
        return int(job.data["n"])

    await start_worker(registry)
    router = await make_router(use_temporal_workflows=True)
    run = uuid.uuid4().hex[:8]
    receipts = await asyncio.gather(*(
        router.enqueue("notification-push", {"n": n}, job_id=f"many-{run}-{n}") for n in range(count)
    ))  # fmt: skip
    results = await asyncio.gather(*(
        result_of(temporal_client, r.placement("temporal").job_id) for r in receipts
    ))  # fmt: skip
    assert sorted(r.result for r in results) == list(range(count))


async def test_100_concurrent_workflows_complete(
    start_worker: Callable[..., Any], make_router: Callable[..., Any], temporal_client: Client
) -> None:
    await run_many(100, start_worker, make_router, temporal_client)


@pytest.mark.slow
@pytest.mark.timeout(600)
async def test_1000_workflows_complete(
    start_worker: Callable[..., Any], make_router: Callable[..., Any], temporal_client: Client
) -> None:
    await run_many(1000, start_worker, make_router, temporal_client)
