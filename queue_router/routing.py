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
    "QueueState",
    "Route",
    "RouteTable",
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
    return _murmur(key) % BUCKETS


def threshold(percentage: float) -> int:
    """Buckets below this number go to Temporal. Rounded so 0.29% is 29 buckets, not 28."""
    return round(percentage * 100)


def _murmur(text: str) -> int:
    return int(mmh3.hash(text, 0, False))


@dataclass(frozen=True, slots=True)
class Bucketing:
    """How a queue turns a routing key into "Temporal or not" at a percentage.

    In two steps, so a route can be looked up by bucket: ``bucket_of`` (the key's bucket
    in the strategy's own scale) and ``admits`` (whether a bucket is inside a percentage).
    """

    strategy: Literal["queue-router", "unleash", "flagd"] = "queue-router"
    salt: str = ""
    """queue-router: hash ``salt + ":" + key``, so two queues move different users."""
    group_id: str = ""
    """unleash: the strategy's ``groupId`` (by default the flag's name)."""
    flag_key: str = ""
    """flagd: the flag key, the default seed prefix of the ``fractional`` operator."""

    def bucket_of(self, key: str) -> int:
        """The key's bucket: 0 .. 9999 (queue-router, flagd) or 1 .. 100 (unleash)."""
        if self.strategy == "unleash":
            return _murmur(f"{self.group_id}:{key}") % 100 + 1
        if self.strategy == "flagd":
            return (_murmur(self.flag_key + key) * BUCKETS) >> 32
        return bucket(f"{self.prefix}{key}")

    @property
    def prefix(self) -> str | None:
        """What queue-router's own bucketing hashes before the key (``salt:`` or nothing),
        for a caller that inlines ``bucket(prefix + key)``; ``None`` for the flag services."""
        if self.strategy != "queue-router":
            return None
        return f"{self.salt}:" if self.salt else ""

    def admits(self, bucket: int, percentage: float) -> bool:
        """Whether keys of ``bucket`` are inside ``percentage`` (go to Temporal)."""
        if self.strategy == "unleash":
            return percentage > 0 and bucket <= percentage
        return bucket < threshold(percentage)

    def place(self, key: str, percentage: float) -> tuple[int, bool]:
        """(the key's bucket in this strategy's own scale, whether it goes to Temporal)."""
        b = self.bucket_of(key)
        return b, self.admits(b, percentage)


DEFAULT_BUCKETING = Bucketing()


@dataclass(frozen=True, slots=True)
class Route:
    """Where a key goes now: a primary backend, maybe a second write, maybe a shadow copy.

    ``percentage`` is the effective share of the queue's keys whose primary is Temporal
    (0 for legacy-only and shadow, 100 for temporal), so dashboards can sum it up. A route
    depends only on the key's bucket and the queue's state, so keys share route objects.
    """

    queue: str
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


@dataclass(frozen=True, slots=True)
class QueueState:
    """What a queue's routes depend on besides the bucket: its mode, share and strategy."""

    queue: str
    mode: Mode
    percentage: float
    legacy: str
    """The queue's legacy backend name (``bull``, ``rq`` or ``list``)."""
    bucketing: Bucketing = DEFAULT_BUCKETING
    shadow_percentage: float = 100.0

    def route_at(self, bucket: int) -> Route:
        """The route of every key in ``bucket``.

        In dual mode the primary is legacy until the queue is at 100%, then Temporal. In
        shadow mode only the buckets inside ``shadow_percentage`` get a shadow copy.
        """
        queue, mode, b, how = self.queue, self.mode, bucket, self.bucketing.strategy
        legacy, percentage = self.legacy, self.percentage
        match mode:
            case Mode.BULL | Mode.RQ:
                return Route(queue, mode, b, 0.0, primary=mode.value, bucketing=how)
            case Mode.TEMPORAL:
                return Route(queue, mode, b, 100.0, primary="temporal", bucketing=how)
            case Mode.PERCENTAGE:
                target = "temporal" if self.bucketing.admits(b, percentage) else legacy
                return Route(queue, mode, b, percentage, primary=target, bucketing=how)
            case Mode.DUAL:
                if threshold(percentage) >= BUCKETS:
                    return Route(queue, mode, b, 100.0, primary="temporal", secondary=legacy,
                                 bucketing=how)  # fmt: skip
                return Route(queue, mode, b, 0.0, primary=legacy, secondary="temporal",
                             bucketing=how)  # fmt: skip
            case Mode.SHADOW:
                sampled = self.bucketing.admits(b, self.shadow_percentage)
                return Route(queue, mode, b, 0.0, primary=legacy,
                             shadow="temporal" if sampled else None, bucketing=how)  # fmt: skip
        raise AssertionError(f"unhandled mode {mode!r}")  # pragma: no cover


class RouteTable:
    """The routes of one queue state, by bucket: routing a key is one hash and one lookup.

    Filled lazily (a bucket's route is made the first time a key lands in it) and thrown
    away whole when the queue's state changes; never per key, so it stays bounded.
    ``prefix`` is the strategy's (``Bucketing.prefix``), kept here for the hot path.
    """

    __slots__ = ("prefix", "routes", "state")

    def __init__(self, state: QueueState) -> None:
        self.state = state
        self.prefix = state.bucketing.prefix
        self.routes: list[Route | None] = [None] * (BUCKETS + 1)  # unleash counts 1 .. 100

    def route(self, key: str) -> Route:
        bucket = self.state.bucketing.bucket_of(key)
        return self.routes[bucket] or self.fill(bucket)

    def fill(self, bucket: int) -> Route:
        """The first key of ``bucket`` in this state: make its route, keep it."""
        route = self.routes[bucket] = self.state.route_at(bucket)
        return route


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
    """The route of ``key`` on ``queue``; no I/O, so a checker can recompute it offline."""
    state = QueueState(queue, mode, percentage, legacy, bucketing, shadow_percentage)
    return state.route_at(bucketing.bucket_of(key))
