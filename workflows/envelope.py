"""The one input every queue-router workflow takes: the job, as the router saw it.

A plain dataclass, so Temporal's JSON converter carries it and a Node or Go worker can
read it as ``{"queue", "job_id", "name", "data", "options", "shadow", "enqueued_at_ms"}``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["JobEnvelope", "workflow_id"]


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


def workflow_id(queue: str, job_id: str, *, shadow: bool = False) -> str:
    """The workflow id derived from a job: ``<queue>/<job_id>``, or ``shadow/...``.

    Derived, never random, so a retry, a dual-write and the migration tool all land on
    the same workflow; the shadow copy gets its own id so it never blocks the real one.
    """
    base = f"{queue}/{job_id}"
    return f"shadow/{base}" if shadow else base
