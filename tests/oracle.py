"""The fault-test oracle of reliability.md, as a pure function with its own unit tests.

A run records one ``Attempt`` per job; afterwards the test counts where each job id is
found (Redis entries and Temporal runs per backend). ``audit`` then counts the contract
violations. Pass means lost = duplicated = misrouted = false_fail = 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Outcome = Literal["ok", "failed", "unknown"]


@dataclass(frozen=True)
class Attempt:
    job_id: str
    outcome: Outcome
    expected: frozenset[str]
    """Backends the recomputed route allows (primary, plus the secondary in dual mode)."""
    fallback: str | None = None
    """The legacy backend, when the receipt says the job fell back to it."""


@dataclass
class Audit:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    misrouted: list[str] = field(default_factory=list)
    false_fail: list[str] = field(default_factory=list)
    unknown_resolved: int = 0
    unknown_unresolved: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.lost or self.duplicated or self.misrouted or self.false_fail)

    def figures(self) -> str:
        return (
            f"lost={len(self.lost)} duplicated={len(self.duplicated)} "
            f"misrouted={len(self.misrouted)} false_fail={len(self.false_fail)} "
            f"unknown_resolved={self.unknown_resolved}"
        )


def audit(attempts: Iterable[Attempt], found: Mapping[str, Mapping[str, int]]) -> Audit:
    """Compare what callers were told with what the servers hold.

    ``found[job_id][backend]`` is how many entries (Redis jobs, Temporal runs) exist.
    """
    result = Audit()
    for attempt in attempts:
        where = {b: n for b, n in found.get(attempt.job_id, {}).items() if n > 0}
        allowed = set(attempt.expected) | ({attempt.fallback} if attempt.fallback else set())
        if any(n > 1 for n in where.values()):
            result.duplicated.append(attempt.job_id)
        if attempt.outcome == "ok" and not where:
            result.lost.append(attempt.job_id)
        if attempt.outcome == "failed" and where:
            result.false_fail.append(attempt.job_id)
        if set(where) - allowed:
            result.misrouted.append(attempt.job_id)
        elif len(where) > len(attempt.expected):  # in two places outside dual mode
            result.duplicated.append(attempt.job_id)
        if attempt.outcome == "unknown":
            if all(n <= 1 for n in where.values()):
                result.unknown_resolved += 1
            else:
                result.unknown_unresolved.append(attempt.job_id)
    return result
