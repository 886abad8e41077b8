"""``JobContext``: what a processor sees of its job, the same under Temporal and RQ."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from queue_router.config import Settings
from queue_router.errors import JobError
from queue_router.processors.effects import EffectClaims, effect_key
from queue_router.telemetry.metrics import EFFECTS
from workflows.envelope import EffectRecord, JobEnvelope

__all__ = ["JobContext", "Runtime"]

T = TypeVar("T")
Runtime = Literal["temporal", "rq", "bull", "list"]


@dataclass
class JobContext:
    """One run of one job.

    Attributes:
        queue, job_id, name, data, options: the job as it was enqueued (Bull option names).
        attempt: 1 for the first run, 2 for the first retry ...
        shadow: a shadow run; ``effect()`` performs nothing and records what it would do.
        runtime: which world runs it: ``"temporal"``, ``"rq"`` or ``"bull"``.
        settings: the worker's settings, for processors that need configuration.
    """

    queue: str
    job_id: str
    name: str
    data: Any
    options: dict[str, Any]
    attempt: int
    shadow: bool
    runtime: Runtime
    settings: Settings
    claims: EffectClaims | None = field(default=None, repr=False)
    effects: list[EffectRecord] = field(default_factory=list)

    @classmethod
    def from_envelope(
        cls,
        envelope: JobEnvelope,
        *,
        attempt: int,
        runtime: Runtime,
        settings: Settings,
        claims: EffectClaims | None,
    ) -> JobContext:
        return cls(
            queue=envelope.queue,
            job_id=envelope.job_id,
            name=envelope.name,
            data=envelope.data,
            options=envelope.options,
            attempt=attempt,
            shadow=envelope.shadow,
            runtime=runtime,
            settings=settings,
            claims=claims,
        )

    async def effect(
        self, name: str, description: str, action: Callable[[], Awaitable[T]]
    ) -> T | Any:
        """Perform a side effect at most once per job, whichever backend runs the job.

        Args:
            name: names the effect within the job (``"send"``, ``"post"``); one claim each.
            description: what it does, in words ("send email to a@b.c"); a shadow run
                records it as "would <description>".
            action: the effect itself; its result must be JSON-serialisable, because a
                later run of the same job gets the recorded result instead of acting.

        Returns:
            The action's result; the recorded one if another run already performed it;
            ``None`` in a shadow run.
        """
        if self.shadow:
            self.effects.append(EffectRecord(name, f"would {description}", "suppressed"))
            EFFECTS.labels(self.queue, "suppressed").inc()
            return None
        if self.claims is None:
            raise JobError(f"queue {self.queue!r}: effect {name!r} needs a claim store")
        key = effect_key(self.queue, self.job_id, name)
        performed, result = await self.claims.run_once(key, action)
        if performed:
            await self.claims.note_performed(self.queue, self.job_id, name)
        outcome: Literal["performed", "replayed"] = "performed" if performed else "replayed"
        self.effects.append(EffectRecord(name, description, outcome, result))
        EFFECTS.labels(self.queue, outcome).inc()
        return result
