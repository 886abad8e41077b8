"""The rollout controller: step a queue's Temporal share up while the evidence says healthy,
and send it back to legacy by itself when it does not.

Each interval it reads the figures the workers and routers wrote (see ``ledger``; Bull's
own ``completed``/``failed`` sets for a queue whose legacy is Node Bull), never its own
memory, so a controller killed mid-rollout is resumed by running it again: it starts from
the live percentage. One controller per queue holds a lease in Redis.

A check compares the Temporal side with the legacy side over the same window:

- error rate: Temporal's <= ``max_error_ratio`` x legacy's, but never less than
  ``error_floor`` (so no legacy errors does not make one Temporal error a trip);
- p99 run time: Temporal's <= ``max_p99_ratio`` x legacy's, with ``p99_floor_ms`` likewise;
- shadow mismatch rate <= ``max_mismatch_rate`` when the window holds comparisons;
- the enqueue rollback guard is closed.

The window is the last interval; when that holds fewer than ``min_samples`` jobs of a
side, it reaches back to the start of the step (Temporal) or to the latest
``min_samples`` jobs (legacy, which has none left at 100%). Too few samples is neither
healthy nor a trip: the step waits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from queue_router.evidence.ledger import RunStats, ShadowCounts

__all__ = ["Assessment", "Thresholds", "assess", "next_step"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    max_error_ratio: float = 2.0
    max_p99_ratio: float = 5.0
    max_mismatch_rate: float = 0.01
    min_samples: int = 50
    error_floor: float = 0.01
    p99_floor_ms: float = 50.0


@dataclass(frozen=True, slots=True)
class Assessment:
    """One interval's decision: ``healthy`` (advance), ``wait`` (too few jobs) or ``trip``."""

    decision: Literal["healthy", "wait", "trip"]
    reasons: list[str] = field(default_factory=list)
    figures: dict[str, float] = field(default_factory=dict)


def assess(
    new: RunStats,
    old: RunStats,
    shadow: ShadowCounts,
    *,
    guard_open: bool,
    limits: Thresholds,
    names: tuple[str, str] = ("temporal", "legacy"),
) -> Assessment:
    """Judge the ``new`` side (Temporal, a new build) against the ``old`` one."""
    a, b = names
    figures = {
        f"{a}_jobs": float(new.jobs), f"{b}_jobs": float(old.jobs),
        f"{a}_error_rate": new.error_rate, f"{b}_error_rate": old.error_rate,
        f"{a}_p99_ms": new.p99_ms, f"{b}_p99_ms": old.p99_ms,
    }  # fmt: skip
    if shadow.compared:
        figures |= {"shadow_compared": float(shadow.compared),
                    "mismatch_rate": shadow.mismatch_rate}  # fmt: skip
    if guard_open:
        return Assessment("trip", ["the enqueue rollback guard is open"], figures)
    if new.jobs < limits.min_samples or old.jobs < limits.min_samples:
        return Assessment("wait", [
            f"too few jobs to judge: {a} {new.jobs}, {b} {old.jobs} "
            f"(--min-samples {limits.min_samples})"
        ], figures)  # fmt: skip
    tripped = []
    allowed_errors = max(limits.max_error_ratio * old.error_rate, limits.error_floor)
    if new.error_rate > allowed_errors:
        tripped.append(
            f"error rate: {a} {new.error_rate:.2%} > {allowed_errors:.2%} "
            f"({b} {old.error_rate:.2%} x {limits.max_error_ratio:g}, "
            f"floor {limits.error_floor:.2%})"
        )
    allowed_p99 = max(limits.max_p99_ratio * old.p99_ms, limits.p99_floor_ms)
    if new.p99_ms > allowed_p99:
        tripped.append(
            f"p99: {a} {new.p99_ms:.0f} ms > {allowed_p99:.0f} ms "
            f"({b} {old.p99_ms:.0f} ms x {limits.max_p99_ratio:g}, "
            f"floor {limits.p99_floor_ms:g} ms)"
        )
    if shadow.compared and shadow.mismatch_rate > limits.max_mismatch_rate:
        tripped.append(
            f"shadow mismatch rate {shadow.mismatch_rate:.2%} > {limits.max_mismatch_rate:.2%} "
            f"({shadow.mismatched} of {shadow.compared})"
        )
    if tripped:
        return Assessment("trip", tripped, figures)
    return Assessment("healthy", [], figures)


def next_step(steps: list[float], current: float) -> tuple[int, bool]:
    """Where a (re)started rollout stands: (index of the step to hold, whether it is set).

    At a step's percentage already: that step, set. Between steps: the next one, to set.
    """
    for index, step in enumerate(steps):
        if current == step:
            return index, True
        if current < step:
            return index, False
    return len(steps) - 1, True
