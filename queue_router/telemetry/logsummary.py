"""Repeated warnings as one line per interval with a count, instead of one line per job.

Under load a shadow side that cannot keep up, or a Temporal outage, would otherwise log a
line per job (a run of 200,000 enqueues logged ~200,000 shadow-drop lines). The first
occurrence of a kind is logged at once; repeats within ``interval_s`` are counted and
reported with the next line of that kind, or by ``flush()``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["LogSummary"]


class LogSummary:
    def __init__(
        self,
        logger: logging.Logger,
        *,
        interval_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._interval = interval_s
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def warning(self, kind: str, message: str, *args: object) -> None:
        """Log ``message`` now, or count it if ``kind`` was logged within the interval."""
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        self._last[kind] = now
        suppressed = self._held.pop(kind, 0)
        suffix = (
            f" (and {suppressed} more like it in the last {self._interval:g}s)"
            if suppressed
            else ""
        )
        self._log.warning(message + suffix, *args)

    def flush(self) -> None:
        """Report the counts still held back (at shutdown)."""
        for kind, count in self._held.items():
            self._log.warning("%d more %s warning(s) in the last %gs", count, kind, self._interval)
        self._held.clear()
