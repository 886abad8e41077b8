"""Prometheus metrics, in prometheus-client's default registry: one source of truth.

An application that already serves ``/metrics`` exposes these with no extra code; the
worker and the long-running commands serve them with ``--metrics-port``. No label
carries a job id or a routing key (unbounded cardinality): only queue, backend, mode,
and small fixed sets of outcomes, reasons and results.
"""

from __future__ import annotations

import functools
from typing import Literal

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "EFFECTS",
    "ENQUEUES",
    "ENQUEUE_SECONDS",
    "FALLBACKS",
    "GUARD_OPEN",
    "JOBS",
    "JOB_SECONDS",
    "ROUTE_PERCENTAGE",
    "SHADOWS",
    "SHADOW_COMPARISONS",
    "WORKER_RAMP",
    "EnqueueOutcome",
    "count_enqueue",
    "time_enqueue",
]

EnqueueOutcome = Literal["placed", "existing", "fell_back", "failed", "unknown"]

ENQUEUES = Counter(
    "queue_router_enqueue",
    "Backend writes of enqueue(), by outcome: placed, existing, fell_back, failed, unknown.",
    ["queue", "backend", "mode", "outcome"],
)
ENQUEUE_SECONDS = Histogram(
    "queue_router_enqueue_seconds",
    "Duration of one backend call of enqueue().",
    ["queue", "backend"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def count_enqueue(queue: str, backend: str, mode: str, outcome: EnqueueOutcome, n: int = 1) -> None:
    """``ENQUEUES`` by its labels, the labelled child looked up once per combination."""
    _enqueue_child(queue, backend, mode, outcome).inc(n)


def time_enqueue(queue: str, backend: str, seconds: float) -> None:
    """``ENQUEUE_SECONDS`` by its labels, the labelled child looked up once per pair."""
    _seconds_child(queue, backend).observe(seconds)


# prometheus-client's ``labels()`` takes a lock and rebuilds the label tuple on each call;
# on the enqueue path that is a measurable share of a Redis round trip.
_enqueue_child = functools.lru_cache(maxsize=4096)(ENQUEUES.labels)
_seconds_child = functools.lru_cache(maxsize=1024)(ENQUEUE_SECONDS.labels)

FALLBACKS = Counter(
    "queue_router_fallback",
    "Jobs routed to Temporal that went to the legacy queue, by reason: unavailable, guard_open.",
    ["queue", "reason"],
)
SHADOWS = Counter(
    "queue_router_shadow",
    "Shadow copies, by result: started, ok, failed, dropped.",
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
