"""The automatic rollback guard: stop sending jobs to Temporal while it keeps failing.

Without it, every enqueue during a Temporal outage waits out the SDK's retry budget before
falling back. After ``failures`` definite Temporal failures in a row the guard opens: for
``cooldown_s`` jobs routed to Temporal go straight to the legacy queue (the receipt says
so). Then one call probes Temporal again; success closes the guard, failure re-opens it.
Only definite failures count: an unknown outcome says nothing about Temporal's health.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["RollbackGuard"]


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

    def allows(self) -> bool:
        """True if this call may try Temporal (guard closed, or the one probe after cooldown)."""
        if self.failures <= 0 or self._opened_at is None:
            return True
        if self._probing or self._clock() - self._opened_at < self.cooldown_s:
            return False
        self._probing = True
        return True

    def retry_in_s(self) -> float:
        if self._opened_at is None:
            return 0.0
        return max(0.0, self.cooldown_s - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        self._in_a_row = 0
        self._opened_at = None
        self._probing = False

    def record_failure(self) -> bool:
        """Count a definite failure; True if this one opened (or re-opened) the guard."""
        self._in_a_row += 1
        reopen = self._probing or (self._opened_at is None and self._in_a_row >= self.failures)
        self._probing = False
        if reopen and self.failures > 0:
            self._opened_at = self._clock()
            return True
        return False
