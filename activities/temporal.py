"""The Temporal activity every queue-router workflow runs: the queue's registered processor.

One activity type, ``queue_router.run_processor``, so workflows name no application code
and the sandbox imports none. Job errors are translated at this boundary: a
``PermanentJobError`` becomes a non-retryable ``ApplicationError`` whose type is the
error's class name; anything else is retried under the workflow's retry policy.
"""

from __future__ import annotations

from temporalio import activity
from temporalio.exceptions import ApplicationError

from queue_router.config import Settings
from queue_router.errors import PermanentJobError
from queue_router.evidence.ledger import Evidence
from queue_router.processors.effects import EffectClaims
from queue_router.processors.registry import Registry, default_registry, run_processor
from workflows.envelope import RUN_PROCESSOR, JobEnvelope, JobResult

__all__ = ["ProcessorActivities"]


class ProcessorActivities:
    """Holds what every processor run shares in a worker: registry, settings, claims."""

    def __init__(
        self,
        settings: Settings,
        claims: EffectClaims | None,
        registry: Registry = default_registry,
        evidence: Evidence | None = None,
    ) -> None:
        self.settings = settings
        self.claims = claims
        self.registry = registry
        self.evidence = evidence

    @activity.defn(name=RUN_PROCESSOR)
    async def run(self, envelope: JobEnvelope) -> JobResult:
        try:
            return await run_processor(
                self.registry,
                envelope,
                attempt=activity.info().attempt,
                runtime="temporal",
                settings=self.settings,
                claims=self.claims,
                evidence=self.evidence,
            )
        except PermanentJobError as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
