"""The catalogue's workflows: one type per job kind, each runs its queue's processor.

Every type does the same thing (run ``queue_router.run_processor`` on the envelope with
the retry policy translated from the job's Bull options, return its ``JobResult``); they
are separate types because the router's catalogue starts them by name, and operators
see and filter them by name. (Temporal needs ``@workflow.run`` on each class itself.)
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow

from workflows.envelope import RUN_PROCESSOR, JobEnvelope, JobResult
from workflows.retry import retry_policy, run_timeout

__all__ = [
    "CATALOGUE_WORKFLOWS",
    "AiDocumentGeneration",
    "AiQueryProcessing",
    "DocumentGeneration",
    "DocumentPdfExport",
    "EmailSending",
    "NotificationDelivery",
    "RulingIndexing",
    "WebhookDelivery",
    "run_job",
    "run_step",
]


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


@workflow.defn(name="documentGeneration")
class DocumentGeneration:
    """Renders a document from a template and data."""

    @workflow.run
    async def run(self, envelope: JobEnvelope) -> JobResult:
        return await run_job(envelope)


@workflow.defn(name="documentPdfExport")
class DocumentPdfExport:
    """Exports a document as PDF."""

    @workflow.run
    async def run(self, envelope: JobEnvelope) -> JobResult:
        return await run_job(envelope)


@workflow.defn(name="emailSending")
class EmailSending:
    """Sends one email (reference processor: activities.email)."""

    @workflow.run
    async def run(self, envelope: JobEnvelope) -> JobResult:
        return await run_job(envelope)


@workflow.defn(name="notificationDelivery")
class NotificationDelivery:
    """Delivers one push/in-app notification."""

    @workflow.run
    async def run(self, envelope: JobEnvelope) -> JobResult:
        return await run_job(envelope)


@workflow.defn(name="aiQueryProcessing")
class AiQueryProcessing:
    """Answers one AI query."""

    @workflow.run
    async def run(self, envelope: JobEnvelope) -> JobResult:
        return await run_job(envelope)


@workflow.defn(name="aiDocumentGeneration")
class AiDocumentGeneration:
    """Generates one document with an AI model."""

    @workflow.run
    async def run(self, envelope: JobEnvelope) -> JobResult:
        return await run_job(envelope)


@workflow.defn(name="rulingIndexing")
class RulingIndexing:
    """Indexes one ruling for search."""

    @workflow.run
    async def run(self, envelope: JobEnvelope) -> JobResult:
        return await run_job(envelope)


@workflow.defn(name="webhookDelivery")
class WebhookDelivery:
    """Delivers one signed webhook (reference processor: activities.webhook)."""

    @workflow.run
    async def run(self, envelope: JobEnvelope) -> JobResult:
        return await run_job(envelope)


CATALOGUE_WORKFLOWS: list[type[Any]] = [
    DocumentGeneration,
    DocumentPdfExport,
    EmailSending,
    NotificationDelivery,
    AiQueryProcessing,
    AiDocumentGeneration,
    RulingIndexing,
    WebhookDelivery,
]
