"""Deterministic percentage routing: a pure function of the routing key and the percentage.

The formula, reproducible in any language with MurmurHash3 (x86, 32-bit)::

    bucket(key)  = murmur3_32(utf8(key), seed=0) as unsigned % 10000     # 0 .. 9999
    to_temporal  = bucket(key) < round(percentage * 100)                  # percentage 0 .. 100

Because the threshold only grows with the percentage, raising it only ever moves keys
from the legacy queue to Temporal, never back; and because the hash is seeded and
platform-independent, the same key takes the same path in every process and machine.

Per queue, ``Bucketing`` can instead reproduce the assignment a flag service already made
for each user (all three are monotone in the percentage too):

- ``queue-router`` (default), optionally salted: ``bucket(salt + ":" + key)``;
- ``unleash`` (gradual rollout): ``murmur3(group_id + ":" + key) % 100 + 1 <= percentage``;
- ``flagd`` (fractional, Temporal as the first variant):
  ``(murmur3(flag_key + key) * 10000) >> 32 < round(percentage * 100)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

import mmh3

__all__ = [
    "BUCKETS",
    "DEFAULT_BUCKETING",
    "Bucketing",
    "Mode",
    "Route",
    "bucket",
    "decide",
    "threshold",
]

BUCKETS = 10_000


class Mode(StrEnum):
    """How one queue's jobs are placed."""

    BULL = "bull"
    """Legacy only: a Bull job in Redis."""
    RQ = "rq"
    """Legacy only: an RQ job in Redis."""
    TEMPORAL = "temporal"
    """Temporal only (with fallback to the legacy queue, if enabled)."""
    PERCENTAGE = "percentage"
    """Split by bucket: keys below the threshold go to Temporal, the rest to legacy."""
    DUAL = "dual"
    """Written to both, same job id; the side effect is claimed once by whoever runs first."""
    SHADOW = "shadow"
    """Legacy is the real path; a side-effect-free Temporal copy runs for comparison."""


def bucket(key: str) -> int:
    """The routing bucket of ``key``, in ``[0, 10000)``."""
    return int(mmh3.hash(key.encode("utf-8"), seed=0, signed=False)) % BUCKETS


def threshold(percentage: float) -> int:
    """Buckets below this number go to Temporal. Rounded so 0.29% is 29 buckets, not 28."""
    return round(percentage * 100)


def _murmur(text: str) -> int:
    return int(mmh3.hash(text.encode("utf-8"), seed=0, signed=False))


@dataclass(frozen=True, slots=True)
class Bucketing:
    """How a queue turns a routing key into "Temporal or not" at a percentage."""

    strategy: Literal["queue-router", "unleash", "flagd"] = "queue-router"
    salt: str = ""
    """queue-router: hash ``salt + ":" + key``, so two queues move different users."""
    group_id: str = ""
    """unleash: the strategy's ``groupId`` (by default the flag's name)."""
    flag_key: str = ""
    """flagd: the flag key, the default seed prefix of the ``fractional`` operator."""

    def place(self, key: str, percentage: float) -> tuple[int, bool]:
        """(the key's bucket in this strategy's own scale, whether it goes to Temporal)."""
        if self.strategy == "unleash":
            normalized = _murmur(f"{self.group_id}:{key}") % 100 + 1  # 1 .. 100
            return normalized, percentage > 0 and normalized <= percentage
        if self.strategy == "flagd":
            value = (_murmur(self.flag_key + key) * BUCKETS) >> 32  # 0 .. 9999
            return value, value < threshold(percentage)
        b = bucket(f"{self.salt}:{key}" if self.salt else key)
        return b, b < threshold(percentage)


DEFAULT_BUCKETING = Bucketing()


@dataclass(frozen=True, slots=True)
class Route:
    """Where a key goes now: a primary backend, maybe a second write, maybe a shadow copy.

    ``percentage`` is the effective share of the queue's keys whose primary is Temporal
    (0 for legacy-only and shadow, 100 for temporal), so dashboards can sum it up.
    """

    queue: str
    key: str
    mode: Mode
    bucket: int
    percentage: float
    primary: str
    secondary: str | None = None
    shadow: str | None = None
    bucketing: str = "queue-router"
    """The strategy that placed the key (``queue-router``, ``unleash``, ``flagd``)."""

    @property
    def to_temporal(self) -> bool:
        return self.primary == "temporal"


def decide(
    *,
    queue: str,
    key: str,
    mode: Mode,
    percentage: float,
    legacy: str,
    bucketing: Bucketing = DEFAULT_BUCKETING,
    shadow_percentage: float = 100.0,
) -> Route:
    """The route of ``key`` on ``queue``; no I/O, so a checker can recompute it offline.

    ``legacy`` is the queue's legacy backend name (``bull`` or ``rq``). In dual mode the
    primary is legacy until the queue is at 100%, then Temporal. In shadow mode only the
    keys below ``shadow_percentage`` (same bucketing) get a shadow copy.
    """
    b, to_temporal = bucketing.place(key, percentage)
    how = bucketing.strategy
    match mode:
        case Mode.BULL | Mode.RQ:
            return Route(queue, key, mode, b, 0.0, primary=mode.value, bucketing=how)
        case Mode.TEMPORAL:
            return Route(queue, key, mode, b, 100.0, primary="temporal", bucketing=how)
        case Mode.PERCENTAGE:
            target = "temporal" if to_temporal else legacy
            return Route(queue, key, mode, b, percentage, primary=target, bucketing=how)
        case Mode.DUAL:
            if threshold(percentage) >= BUCKETS:
                return Route(queue, key, mode, b, 100.0, primary="temporal", secondary=legacy,
                             bucketing=how)  # fmt: skip
            return Route(queue, key, mode, b, 0.0, primary=legacy, secondary="temporal",
                         bucketing=how)  # fmt: skip
        case Mode.SHADOW:
            _, sampled = bucketing.place(key, shadow_percentage)
            return Route(queue, key, mode, b, 0.0, primary=legacy,
                         shadow="temporal" if sampled else None, bucketing=how)  # fmt: skip
    raise AssertionError(f"unhandled mode {mode!r}")  # pragma: no cover
