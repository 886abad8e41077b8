"""The automatic rollback guard: stop sending jobs to Temporal while it keeps failing.

Without it, every enqueue during a Temporal outage waits out the SDK's retry budget before
falling back. After ``failures`` definite Temporal failures in a row the guard opens: for
``cooldown_s`` jobs routed to Temporal go straight to the legacy queue (the receipt says
so). Then one call probes Temporal again. Every way that probe can end settles the
guard: success closes it; a definite failure, an unknown outcome, a cancellation or any
other error re-opens it for another cooldown. (A probe left unsettled would keep the
guard open forever, since no other call may try Temporal while it is out.)

Calls let through before the guard opened may answer after it did. Their answers are
about a Temporal from before the failures that opened it: a late success does not close
the guard, and a late failure neither passes for the probe's nor counts toward the next
opening. Each opening starts a new ``generation``; a call carries the one it was let
through in.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import Enum

__all__ = ["Admission", "RollbackGuard"]


class Admission(Enum):
    """What one Temporal-bound call may do now."""

    GO = "go"
    """The guard is closed: try Temporal."""
    PROBE = "probe"
    """The cooldown is over and this call is the one probe: try Temporal, then settle."""
    FALL_BACK = "fall_back"
    """The guard is open: go to the legacy queue without trying Temporal."""


class RollbackGuard:
    def __init__(
        self, *, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._in_a_row = 0
        self._opened_at: float | None = None
        self._probing = False
        self.generation = 0
        """How many times the guard has opened; a call's answer counts for the guard only
        if no opening came between the call's admission and its answer."""

    @property
    def is_open(self) -> bool:
        return self._opened_at is not None

    def admit(self) -> Admission:
        """Whether this call may try Temporal; the probe's caller must ``settle_probe()``."""
        if self.failures <= 0 or self._opened_at is None:
            return Admission.GO
        if self._probing or self._clock() - self._opened_at < self.cooldown_s:
            return Admission.FALL_BACK
        self._probing = True
        return Admission.PROBE

    def retry_in_s(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def record_success(self, admitted: int) -> bool:
        """A call let through in generation ``admitted`` succeeded; True if that closed the
        guard. A call let through before the latest opening changes nothing."""
        if admitted != self.generation:
            return False
        self._in_a_row = 0
        if self._opened_at is None:
            return False
        self._opened_at = None
        self._probing = False
        return True

    def record_failure(self, admitted: int) -> bool:
        """A call let through in generation ``admitted`` definitely failed; True if that
        opened (or re-opened) the guard. A call let through before the latest opening
        changes nothing."""
        if admitted != self.generation:
            return False
        self._in_a_row += 1
        if self._probing or (self._opened_at is None and self._in_a_row >= self.failures):
            self._probing = False
            return self._open(self._clock())
        return False

    def _open(self, at: float) -> bool:
        if self.failures <= 0:
            return False
        self._opened_at = at
        self.generation += 1
        return True

    def hold_open_until(self, deadline: float) -> None:
        """Another instance opened the shared guard: stay open until ``deadline`` (clock time)."""
        opened_at = deadline - self.cooldown_s
        if self._opened_at is None:
            self._open(opened_at)
        elif opened_at > self._opened_at:  # the same opening read again, or one extended
            self._opened_at = opened_at

    def release(self) -> None:
        """Another instance's probe succeeded and closed the shared guard."""
        self._in_a_row = 0
        self._opened_at = None
        self._probing = False

    def settle_probe(self) -> None:
        """The probe ended without a success or a definite failure: re-open for a cooldown.

        A no-op when ``record_success``/``record_failure`` already settled it.
        """
        if self._probing:
            self._probing = False
            self._open(self._clock())
