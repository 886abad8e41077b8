"""Bull job options -> Temporal activity retry policy and timeout.

Bull's meaning is kept: ``attempts`` counts all runs (default 1: no retry); ``backoff``
is ``{"type": "fixed"|"exponential", "delay": ms}`` or a bare number (fixed ms); no
backoff retries at once; ``timeout`` bounds one run. Bull never caps its exponential
backoff, so neither does the translated policy.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio.common import RetryPolicy

__all__ = ["DEFAULT_RUN_TIMEOUT", "retry_policy", "run_timeout"]

DEFAULT_RUN_TIMEOUT = timedelta(minutes=10)
"""Start-to-close of a run without Bull ``timeout``: Temporal needs one to detect a lost worker."""

_IMMEDIATE = timedelta(milliseconds=1)  # Temporal needs a positive interval


def retry_policy(options: dict[str, Any]) -> RetryPolicy:
    attempts = max(1, int(options.get("attempts") or 1))
    kind, delay_ms = _backoff(options.get("backoff"))
    initial = timedelta(milliseconds=delay_ms) if delay_ms > 0 else _IMMEDIATE
    if kind == "exponential":
        coefficient = 2.0
        maximum = initial * 2 ** max(0, attempts - 1)  # the longest wait Bull would make
    else:
        coefficient, maximum = 1.0, initial
    return RetryPolicy(
        initial_interval=initial,
        backoff_coefficient=coefficient,
        maximum_interval=maximum,
        maximum_attempts=attempts,
    )


def run_timeout(options: dict[str, Any]) -> timedelta:
    timeout = options.get("timeout")
    return timedelta(milliseconds=int(timeout)) if timeout else DEFAULT_RUN_TIMEOUT


def _backoff(backoff: Any) -> tuple[str, int]:
    if isinstance(backoff, int | float):
        return "fixed", int(backoff)
    if isinstance(backoff, dict):
        return str(backoff.get("type", "fixed")), int(backoff.get("delay") or 0)
    return "fixed", 0
