"""The job workflow: one dynamic workflow serves every queue's jobs, whatever its type name.

The router starts each queue's jobs under that queue's workflow type (``emailSending``,
a custom ``invoiceRender`` ...), because operators search and filter by those names. The
types differ only in name: each runs ``queue_router.run_processor`` on the envelope with
the retry policy translated from the job's Bull options. So one class registered with
``dynamic=True`` serves them all, and a queue added in ``QUEUE_ROUTER_QUEUES`` runs on
the stock worker without a new class. Named workflows (approval, alerts, traces) are
registered beside it and take precedence for their own names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from workflows.envelope import RUN_PROCESSOR, JobEnvelope, JobResult
from workflows.retry import retry_policy, run_timeout
from workflows.shadow import run_shadow

__all__ = ["JobWorkflow", "run_job", "run_step"]


async def run_job(envelope: JobEnvelope) -> JobResult:
    """Run the envelope's queue processor as an activity, retried as Bull would."""
    result: JobResult = await workflow.execute_activity(
        RUN_PROCESSOR,
        envelope,
        result_type=JobResult,
        start_to_close_timeout=run_timeout(envelope.options),
        retry_policy=retry_policy(envelope.options),
    )
    return result


async def run_step(
    queue: str, job_id: str, name: str, data: Any, options: dict[str, Any]
) -> JobResult:
    """One step of a pattern workflow: the processor of ``queue``, run as a job.

    ``job_id`` must be deterministic (derived from the workflow's own input), so that a
    step's side effects are claimed under the same key on every replay and retry.
    """
    return await run_job(JobEnvelope(queue, job_id, name, data, options))


@workflow.defn(dynamic=True)
class JobWorkflow:
    """Every queue's job workflow: takes a ``JobEnvelope``, returns a ``JobResult``.

    Versioned workers register ``workflows.versioned.VersionedJobWorkflow`` instead, which
    adds the versioning behaviour (an unversioned worker must not declare one).
    """

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> JobResult:
        if len(args) != 1:
            raise ApplicationError(
                f"workflow type {workflow.info().workflow_type!r} takes one JobEnvelope, "
                f"got {len(args)} arguments",
                non_retryable=True,
            )
        envelope = workflow.payload_converter().from_payload(args[0].payload, JobEnvelope)
        if envelope.shadow and envelope.compare_within_s > 0 and workflow.patched("shadow-compare"):
            return await run_shadow(envelope, run_job)
        return await run_job(envelope)
