"""``rollback``: stop migrated workflows that have not completed and put their jobs back.

Driven by the ledger ``migrate`` wrote. Per job: a completed workflow keeps its result
(the job ran; putting it back would run it twice); a running one is cancelled (or, with
``terminate``, terminated) and, once closed, its job hash returns from the ledger into
its original Bull/RQ state with its original data and options. Rerunning is safe: each
ledger entry records that it was rolled back.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

from queue_router.migration.migrate import JobOutcome, MigrationReport, Migrator
from queue_router.migration.queues import LegacyQueue

__all__ = ["rollback"]

_RESTORE_PROBLEMS = {
    "exists": "a job with this id is in the legacy queue again; left both",
    "missing": "the ledger copy of the job hash is missing",
    "already": "already rolled back",
}


async def rollback(
    migrator: Migrator,
    client: Client,
    queues: list[str],
    *,
    terminate: bool = False,
    dry_run: bool = False,
    wait_s: float = 10.0,
) -> MigrationReport:
    report = MigrationReport()
    for name in queues:
        queue = migrator.legacy_queue(migrator.settings.queue(name))
        entries = sorted((await queue.ledger()).items(), key=lambda item: item[1].get("seq", 0))
        for job_id, entry in entries:
            outcome = JobOutcome(
                name, job_id, entry.get("state", ""), "skipped",
                workflow_id=entry["workflow_id"], run_id=entry.get("run_id"),
            )  # fmt: skip
            if entry.get("rolled_back"):
                outcome.reason = "already rolled back"
            else:
                await _roll_back_one(client, queue, outcome, terminate, dry_run, wait_s)
            report.outcomes.append(outcome)
            if migrator.on_progress is not None:
                migrator.on_progress(outcome)
    report.finished = time.monotonic()
    return report


async def _roll_back_one(
    client: Client, queue: LegacyQueue, outcome: JobOutcome, terminate: bool, dry_run: bool,
    wait_s: float,
) -> None:  # fmt: skip
    handle = client.get_workflow_handle(outcome.workflow_id)
    status = await _status(handle)
    if status == WorkflowExecutionStatus.COMPLETED:
        outcome.reason = "workflow completed: the job ran in Temporal, not restored"
        return
    if status == WorkflowExecutionStatus.RUNNING:
        if dry_run:
            outcome.outcome, outcome.reason = "valid", "would stop the workflow and restore"
            return
        if terminate:
            await handle.terminate(reason="queue-router rollback")
        else:
            await handle.cancel()
        status = await _wait_closed(handle, wait_s)
        if status == WorkflowExecutionStatus.RUNNING:
            outcome.outcome = "failed"
            outcome.reason = (
                "cancel requested but the workflow is still running (is a worker up?); "
                "rerun, or use --terminate"
            )
            return
        if status == WorkflowExecutionStatus.COMPLETED:
            outcome.reason = "workflow completed before it could be stopped, not restored"
            return
    elif dry_run:
        outcome.outcome, outcome.reason = "valid", "would restore"
        return
    restored = await queue.restore(outcome.job_id)
    if restored.status == "restored":
        outcome.outcome, outcome.reason = "restored", "back in the legacy queue"
    else:
        outcome.outcome = "failed"
        outcome.reason = _RESTORE_PROBLEMS.get(restored.status, restored.status)


async def _status(handle: WorkflowHandle[Any, Any]) -> WorkflowExecutionStatus | None:
    try:
        return (await handle.describe()).status
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None  # gone (retention): nothing runs, restore the job
        raise


async def _wait_closed(
    handle: WorkflowHandle[Any, Any], wait_s: float
) -> WorkflowExecutionStatus | None:
    deadline = time.monotonic() + wait_s
    while True:
        status = await _status(handle)
        if status != WorkflowExecutionStatus.RUNNING or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.2)
