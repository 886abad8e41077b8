"""In-flight approvals of an old engine, carried into Temporal and resumed on its clocks.

Short durations stand in for days: a pending approval asked 2 s ago with a 4 s
escalation escalates 2 s after the import; an escalated one expires on the clock that
started at its escalation; one past its deadline acts at once.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.client import Client

from queue_router.processors import Registry
from tests.conftest import run_cli
from workflows import ApprovalWorkflow, SimpleApprovalWorkflow


def ago(seconds: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds)).isoformat()


def export(path: Path) -> Path:
    lines = [
        {"request_id": "pending-2s-ago", "subject": "refund 120 EUR", "approver": "alice",
         "escalate_to": "bob", "escalate_after_s": 4, "expire_after_s": 60,
         "requested_at": ago(2), "state": "pending",
         "audit": [{"at": ago(2), "state": "pending", "actor": "old-engine", "note": "created"}]},
        {"request_id": "escalated-1s-ago", "subject": "contract", "approver": "carol",
         "escalate_to": "dave", "escalate_after_s": 10, "expire_after_s": 3,
         "requested_at": ago(11), "state": "escalated", "escalated_at": ago(1)},
        {"request_id": "overdue", "subject": "laptop", "approver": "erin", "escalate_to": "frank",
         "escalate_after_s": 4, "expire_after_s": 60, "requested_at": ago(30),
         "state": "pending"},
        {"request_id": "simple", "subject": "leave", "approver": "gina", "expire_after_s": 600,
         "requested_at": ago(5), "state": "pending"},
    ]  # fmt: skip
    text = "\n".join(json.dumps(line) for line in lines[:2])
    text += '\n{"request_id": "broken", "subject": "no approver", "state": "pending"}\n'
    text += "\n".join(json.dumps(line) for line in lines[2:]) + "\n"
    path.write_text(text)
    return path


async def when_state(client: Client, workflow_id: str, state: str, within_s: float = 15) -> float:
    handle = client.get_workflow_handle(workflow_id)
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        status = await handle.query(ApprovalWorkflow.status)
        if status.state == state:
            return time.monotonic()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id} never reached {state}")


async def test_in_flight_approvals_resume_on_the_old_clocks(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str, tmp_path: Path,
) -> None:  # fmt: skip
    settings = await start_worker(Registry())
    env = {"TEMPORAL_CLUSTER_URL": settings.temporal.temporal_cluster_url,
           "TEMPORAL_TASK_QUEUE": task_queue, "REDIS_URL": settings.redis.redis_url}  # fmt: skip
    file = export(tmp_path / "approvals.jsonl")

    dry = run_cli(["import-approvals", str(file), "--dry-run", "--json"], env)
    assert dry.returncode == 1, dry.stderr  # one invalid line
    planned = {r["request_id"]: r["detail"] for r in json.loads(dry.stdout)["lines"]}
    assert planned["pending-2s-ago"].startswith("approvalWithEscalation: escalates at")
    assert planned["simple"].startswith("approval: expires at")
    assert [e.id async for e in temporal_client.list_workflows(f"TaskQueue = '{task_queue}'")] == []

    started = time.monotonic()
    out = run_cli(["import-approvals", str(file), "--json"], env)
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["summary"] == {"imported": 4, "existing": 0, "invalid": 1, "would import": 0}
    [bad] = [r for r in report["lines"] if r["outcome"] == "invalid"]
    assert bad["line"] == 3 and "approver" in bad["detail"]

    overdue = await when_state(temporal_client, "approval/overdue", "escalated")
    assert overdue - started < 1.5  # its deadline had passed: at once
    escalated = await when_state(temporal_client, "approval/pending-2s-ago", "escalated")
    assert abs((escalated - started) - 2) < 1.0, escalated - started  # 4 s, 2 already gone
    expired = await when_state(temporal_client, "approval/escalated-1s-ago", "expired")
    assert abs((expired - started) - 2) < 1.0, expired - started  # 3 s from escalation

    status = await temporal_client.get_workflow_handle("approval/pending-2s-ago").query(
        ApprovalWorkflow.status)  # fmt: skip
    assert (status.audit[0].actor, status.audit[0].note) == ("old-engine", "imported: created")
    await temporal_client.get_workflow_handle("approval/simple").signal(
        SimpleApprovalWorkflow.approve,  # type: ignore[call-overload]
        {"approver": "gina", "comment": "ok"},  # as JSON from any client: not a Decision
    )

    again = run_cli(["import-approvals", str(file), "--json"], env)
    assert json.loads(again.stdout)["summary"] == {"imported": 0, "existing": 4, "invalid": 1,
                                                   "would import": 0}  # fmt: skip
