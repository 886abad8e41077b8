"""The wire types of every queue-router workflow: the job going in, the result coming out.

Plain dataclasses, so Temporal's JSON converter carries them and a Node or Go worker can
read them: the envelope is ``{"queue", "job_id", "name", "data", "options", "shadow",
"enqueued_at_ms"}``; the result adds what the job's side effects did (or, in a shadow
run, would have done), which is what a shadow comparison looks at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "COMPARE_SHADOW",
    "RUN_PROCESSOR",
    "EffectRecord",
    "JobEnvelope",
    "JobResult",
    "ShadowCheck",
    "shadow_id",
    "workflow_id",
]

RUN_PROCESSOR = "queue_router.run_processor"
"""The one activity type workflows run: the job queue's registered processor."""
COMPARE_SHADOW = "queue_router.compare_shadow"
"""The activity a shadow run asks, until it has an answer, how it compares with legacy."""


@dataclass
class JobEnvelope:
    queue: str
    job_id: str
    name: str
    data: Any
    options: dict[str, Any] = field(default_factory=dict)
    """Bull-style options (``attempts``, ``backoff``, ``timeout`` ...): the retry policy."""
    shadow: bool = False
    """A shadow run must not perform side effects; it records what it would have done."""
    enqueued_at_ms: int = 0
    compare_within_s: int = 0
    """A shadow run waits this long for the legacy job's outcome to compare with (0: no
    comparison)."""


EffectOutcome = Literal["performed", "replayed", "suppressed"]


@dataclass
class EffectRecord:
    """One side effect of a run.

    ``performed``: this run did it. ``replayed``: another run (the other side of a
    dual-write, or an earlier attempt) did it, and ``result`` is what that run recorded.
    ``suppressed``: a shadow run, which only says what it would have done.
    """

    name: str
    description: str
    outcome: EffectOutcome
    result: Any = None


@dataclass
class JobResult:
    queue: str
    job_id: str
    result: Any
    shadow: bool = False
    attempt: int = 1
    effects: list[EffectRecord] = field(default_factory=list)


DEFAULT_WORKFLOW_ID = "{queue}/{job_id}"


def workflow_id(
    queue: str, job_id: str, *, shadow: bool = False, template: str = DEFAULT_WORKFLOW_ID
) -> str:
    """The workflow id derived from a job: ``<queue>/<job_id>``, or ``shadow/...``.

    Derived, never random, so a retry, a dual-write and the migration tool all land on
    the same workflow; the shadow copy gets its own id so it never blocks the real one.
    A queue's ``template`` (``"trace-{job_id}"``) lets another service that starts the
    same workflows agree on the id, so a job started by both runs once.
    """
    base = template.format(queue=queue, job_id=job_id)
    return shadow_id(base) if shadow else base


def shadow_id(wf_id: str) -> str:
    """The id of the shadow copy of the workflow ``wf_id``."""
    return f"shadow/{wf_id}"


@dataclass
class ShadowCheck:
    """What a shadow run did (or failed with), to compare with the legacy job's outcome.

    ``final``: the wait is over; a legacy job still unfinished is then ``ignored``.
    """

    queue: str
    job_id: str
    state: Literal["completed", "failed"]
    value: Any = None
    error: str = ""
    effects: list[str] = field(default_factory=list)
    """Names of the effects the shadow run would have performed."""
    final: bool = False
