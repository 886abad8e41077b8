"""Prometheus metrics, in prometheus-client's default registry: one source of truth.

An application that already serves ``/metrics`` exposes these with no extra code; the
worker and the long-running commands serve them with ``--metrics-port``. No label
carries a job id or a routing key (unbounded cardinality): only queue, backend, mode,
and small fixed sets of outcomes, reasons and results.
"""

from __future__ import annotations

import bisect
import itertools
import threading
from collections.abc import Iterator
from typing import Literal

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = [
    "EFFECTS",
    "ENQUEUES",
    "FALLBACKS",
    "GUARD_OPEN",
    "JOBS",
    "JOB_SECONDS",
    "ROUTE_PERCENTAGE",
    "SHADOWS",
    "SHADOW_BACKLOG",
    "SHADOW_BACKLOG_AGE",
    "SHADOW_BACKLOG_BYTES",
    "SHADOW_COMPARISONS",
    "WORKER_RAMP",
    "EnqueueOutcome",
    "count_enqueue",
    "record_enqueue",
    "time_enqueue",
]

EnqueueOutcome = Literal["placed", "existing", "fell_back", "failed", "unknown"]


class EnqueueMetrics(Collector):
    """``queue_router_enqueue_total`` and ``queue_router_enqueue_seconds``, which every
    backend call of every enqueue updates.

    Kept as plain numbers under one lock and handed to the registry when it is scraped
    (prometheus-client's custom-collector API): the exposition is a counter's and a
    histogram's. prometheus-client's own Counter and Histogram spend about ten Python
    calls and three locks per update, which measured 5-9 µs of CPU per sequential Bull
    enqueue (Python runs cold after each wait on Redis): more than the routing itself.
    """

    count_labels = ("queue", "backend", "mode", "outcome")
    seconds_labels = ("queue", "backend")
    bounds = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, ...], float] = {}
        self._seconds: dict[tuple[str, ...], list[float]] = {}
        """Per label pair: a count per bucket (not cumulative; +Inf last), then the sum."""

    def count(self, labels: tuple[str, str, str, str], n: int) -> None:
        with self._lock:
            self._count(labels, n)

    def observe(self, labels: tuple[str, str], seconds: float, n: int = 1) -> None:
        with self._lock:
            self._observe(labels, seconds, n)

    def record(self, labels: tuple[str, str, str, str], seconds: float) -> None:
        """One backend call: counted by outcome and timed, under one lock."""
        with self._lock:
            self._count(labels, 1)
            self._observe(labels[:2], seconds, 1)

    def _count(self, labels: tuple[str, ...], n: int) -> None:
        self._counts[labels] = self._counts.get(labels, 0) + n

    def _observe(self, labels: tuple[str, ...], seconds: float, n: int) -> None:
        """``n`` calls that each took ``seconds``."""
        entry = self._seconds.get(labels)
        if entry is None:
            entry = self._seconds[labels] = [0.0] * (len(self.bounds) + 2)
        entry[bisect.bisect_left(self.bounds, seconds)] += n  # a bucket's bound is in it
        entry[-1] += seconds * n

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            counts = list(self._counts.items())
            seconds = [(labels, list(entry)) for labels, entry in self._seconds.items()]
        total, latency = self.describe()
        for labels, value in counts:
            total.add_metric(labels, value)
        for labels, entry in seconds:
            cumulative = itertools.accumulate(entry[:-1])
            latency.add_metric(labels, list(zip(_UPPER, cumulative, strict=True)), entry[-1])
        yield from (total, latency)

    def describe(self) -> tuple[CounterMetricFamily, HistogramMetricFamily]:
        return (
            CounterMetricFamily(
                "queue_router_enqueue",
                "Backend writes of enqueue(), by outcome: placed, existing, fell_back, failed, "
                "unknown.",
                labels=self.count_labels,
            ),
            HistogramMetricFamily(
                "queue_router_enqueue_seconds",
                "Duration of one backend call of enqueue().",
                labels=self.seconds_labels,
            ),
        )


_UPPER = [floatToGoString(b) for b in (*EnqueueMetrics.bounds, float("inf"))]  # type: ignore[no-untyped-call]
"""The buckets' ``le`` labels, written as prometheus-client writes them."""
ENQUEUES = EnqueueMetrics()
REGISTRY.register(ENQUEUES)


def count_enqueue(queue: str, backend: str, mode: str, outcome: EnqueueOutcome, n: int = 1) -> None:
    """One backend write of ``enqueue()`` (or ``n`` of a batch), by its outcome."""
    ENQUEUES.count((queue, backend, mode, outcome), n)


def record_enqueue(
    queue: str, backend: str, mode: str, outcome: EnqueueOutcome, seconds: float
) -> None:
    """``count_enqueue`` and ``time_enqueue`` of one backend call of ``enqueue()`` at once."""
    ENQUEUES.record((queue, backend, mode, outcome), seconds)


def time_enqueue(queue: str, backend: str, seconds: float, n: int = 1) -> None:
    """How long one backend call of ``enqueue()`` took (or each of the ``n`` jobs of one
    batch write: the batch's time)."""
    ENQUEUES.observe((queue, backend), seconds, n)


FALLBACKS = Counter(
    "queue_router_fallback",
    "Jobs routed to Temporal that went to the legacy queue, by reason: unavailable, guard_open.",
    ["queue", "reason"],
)
SHADOWS = Counter(
    "queue_router_shadow",
    "Shadow copies, by result: handed_off (to the workers), started (in-process), ok, "
    "failed, dropped.",
    ["queue", "result"],
)
SHADOW_COMPARISONS = Counter(
    "queue_router_shadow_comparison",
    "Shadow runs compared with their legacy job, by result: match, mismatch, ignored.",
    ["queue", "result"],
)
WORKER_RAMP = Counter(
    "queue_router_worker_ramp",
    "Worker build ramp changes (worker-ramp), by event: step, promoted, rolled_back.",
    ["deployment", "event"],
)
ROUTE_PERCENTAGE = Gauge(
    "queue_router_route_percentage",
    "The effective share of the queue's keys whose primary is Temporal, 0..100.",
    ["queue"],
)
SHADOW_BACKLOG = Gauge(
    "queue_router_shadow_backlog",
    "Shadow copies routers handed off that no worker has started yet (set by the relays).",
)
SHADOW_BACKLOG_BYTES = Gauge(
    "queue_router_shadow_backlog_bytes",
    "Bytes of the handed-off shadow copies no worker has started yet, held in the Redis "
    "of the real jobs (set by the relays).",
)
SHADOW_BACKLOG_AGE = Gauge(
    "queue_router_shadow_backlog_oldest_seconds",
    "How long the oldest handed-off shadow copy has waited for a worker (set by the relays).",
)
GUARD_OPEN = Gauge(
    "queue_router_guard_open",
    "1 while the rollback guard sends the queue's Temporal share to legacy.",
    ["queue"],
)
JOBS = Counter(
    "queue_router_job",
    "Processor runs, by runtime (temporal, rq) and outcome: completed, failed, retried.",
    ["queue", "runtime", "outcome"],
)
JOB_SECONDS = Histogram(
    "queue_router_job_seconds",
    "Duration of one processor run.",
    ["queue", "runtime"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
)
EFFECTS = Counter(
    "queue_router_effect",
    "Side effects, by outcome: performed, replayed, suppressed (shadow).",
    ["queue", "outcome"],
)
