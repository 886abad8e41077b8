"""The migration guides' workflow patterns: approval, alert loop, trace pipeline."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle

from queue_router.errors import PermanentJobError
from queue_router.processors import JobContext, Registry
from workflows import (
    AlertInput,
    AlertStatus,
    AlertWorkflow,
    ApprovalRequest,
    ApprovalStatus,
    ApprovalWorkflow,
    Decision,
    SimpleApprovalWorkflow,
    TraceInput,
    TraceWorkflow,
)

pytestmark = pytest.mark.integration


def notifier(registry: Registry, sent: list[dict[str, Any]]) -> None:
    @registry.processor("notify")
    async def notify(job: JobContext) -> None:
        sent.append(job.data)


def evaluated(times: int) -> Callable[[AlertStatus], bool]:
    """A check of an alert's status: evaluated ``times`` times so far."""
    return lambda status: status.evaluations == times


async def until(handle: WorkflowHandle[Any, Any], check: Callable[[Any], bool], query: Any) -> Any:
    for _ in range(100):
        status = await handle.query(query)
        if check(status):
            return status
        await asyncio.sleep(0.1)
    raise AssertionError(f"condition never held; last status {status}")


async def test_approval_escalates_to_the_second_approver_who_approves(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    registry, sent = Registry(), list[dict[str, Any]]()
    notifier(registry, sent)
    await start_worker(registry)
    request = ApprovalRequest("req-1", "refund 120 EUR", "alice", escalate_to="bob",
                              escalate_after_s=1, notify_queue="notify")  # fmt: skip
    handle = await temporal_client.start_workflow(
        ApprovalWorkflow.run, request, id=f"approval-{uuid.uuid4()}", task_queue=task_queue
    )
    status = await until(handle, lambda s: s.state == "escalated", ApprovalWorkflow.status)
    assert status.approver == "bob"
    await handle.signal(ApprovalWorkflow.approve, Decision("mallory", "let me"))
    await handle.signal(ApprovalWorkflow.approve, Decision("bob", "ok by me"))
    final: ApprovalStatus = await handle.result()
    assert final.state == "approved"
    assert [(e.state, e.actor) for e in final.audit] == [
        ("pending", "system"), ("escalated", "system"), ("escalated", "mallory"),
        ("approved", "bob"),
    ]  # fmt: skip
    assert "not an approver" in final.audit[2].note and final.audit[3].note == "ok by me"
    assert [(n["approver"], n["state"]) for n in sent] == [
        ("alice", "pending"),
        ("bob", "escalated"),
    ]


async def test_approval_decided_before_escalation_never_escalates(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    await start_worker(Registry())
    request = ApprovalRequest("req-2", "deploy", "alice", escalate_to="bob", escalate_after_s=30)
    handle = await temporal_client.start_workflow(
        ApprovalWorkflow.run, request, id=f"approval-{uuid.uuid4()}", task_queue=task_queue
    )
    await handle.signal(ApprovalWorkflow.reject, Decision("alice", "not today"))
    final: ApprovalStatus = await handle.result()
    assert (final.state, final.approver) == ("rejected", "alice")
    assert [e.state for e in final.audit] == ["pending", "rejected"]


async def test_simple_approval_approves_and_expires(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    await start_worker(Registry())
    approved = await temporal_client.start_workflow(
        SimpleApprovalWorkflow.run, ApprovalRequest("r-a", "x", "carol"),
        id=f"simple-{uuid.uuid4()}", task_queue=task_queue,
    )  # fmt: skip
    await approved.signal(SimpleApprovalWorkflow.approve, Decision("carol"))
    assert (await approved.result()).state == "approved"
    expired: ApprovalStatus = await temporal_client.execute_workflow(
        SimpleApprovalWorkflow.run, ApprovalRequest("r-e", "x", "carol", expire_after_s=0.5),
        id=f"simple-{uuid.uuid4()}", task_queue=task_queue,
    )  # fmt: skip
    assert [e.state for e in expired.audit] == ["pending", "expired"]


async def test_alert_loop_evaluates_on_signal_notifies_on_transition_and_continues_as_new(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    registry, sent = Registry(), list[dict[str, Any]]()
    notifier(registry, sent)
    readings = iter([5, 95, 97, 10, 12])

    @registry.processor("cpu-check")
    async def evaluate(job: JobContext) -> dict[str, Any]:
        value = next(readings)
        return {"firing": value > 90, "value": value}

    await start_worker(registry)
    alert = AlertInput("cpu", "cpu-check", "notify", interval_s=3600, max_evaluations_per_run=2)
    handle = await temporal_client.start_workflow(
        AlertWorkflow.run, alert, id=f"alert-{uuid.uuid4()}", task_queue=task_queue
    )
    first_run = handle.first_execution_run_id
    for n in range(1, 6):
        await handle.signal(AlertWorkflow.evaluate_now)
        status: AlertStatus = await until(handle, evaluated(n), AlertWorkflow.status)
    assert (status.state, status.transitions, status.last_value) == (
        "ok",
        2,
        {"firing": False, "value": 12},
    )
    assert [(n["from"], n["to"]) for n in sent] == [("ok", "firing"), ("firing", "ok")]
    await handle.signal(AlertWorkflow.stop)
    final: AlertStatus = await handle.result()
    assert final.evaluations == 5 and final.evaluations_this_run == 1
    described = await temporal_client.get_workflow_handle(handle.id).describe()
    assert described.run_id != first_run  # two continue-as-new since the first run


async def test_trace_pipeline_persists_and_tolerates_best_effort_failures(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    registry, stored = Registry(), []

    @registry.processor("trace-persist")
    async def persist(job: JobContext) -> str:
        stored.append(job.data["trace_id"])
        return "row-1"

    @registry.processor("trace-cost")
    async def cost(job: JobContext) -> None:
        raise RuntimeError("pricing service down")

    @registry.processor("trace-summary")
    async def summary(job: JobContext) -> str:
        return f"{len(job.data['spans'])} spans"

    await start_worker(registry)
    result = await temporal_client.execute_workflow(
        TraceWorkflow.run, TraceInput("t-1", [{"name": "a"}, {"name": "b"}]),
        id=f"trace-{uuid.uuid4()}", task_queue=task_queue,
    )  # fmt: skip
    assert (result.persisted, result.cost, result.summary) == ("row-1", None, "2 spans")
    assert len(result.warnings) == 1 and "cost step failed" in result.warnings[0]
    assert stored == ["t-1"]


async def test_trace_pipeline_fails_when_persistence_fails(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    registry = Registry()

    @registry.processor("trace-persist")
    async def persist(job: JobContext) -> None:
        raise PermanentJobError("database rejected the trace")

    await start_worker(registry)
    with pytest.raises(WorkflowFailureError) as failure:
        await temporal_client.execute_workflow(
            TraceWorkflow.run, TraceInput("t-2", []), id=f"trace-{uuid.uuid4()}",
            task_queue=task_queue,
        )  # fmt: skip
    assert "database rejected the trace" in str(failure.value.cause.__cause__)
