"""Logs that stay readable under load, and metric labels that stay bounded."""

from __future__ import annotations

import asyncio
import logging

import prometheus_client
import pytest

from queue_router import QueueRouter, Settings
from queue_router.telemetry import metrics
from queue_router.telemetry.logsummary import LogSummary
from queue_router.testing import MemoryBackend
from tests.counts import Counts


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_repeats_are_one_line_per_interval_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    summary = LogSummary(logging.getLogger("t"), interval_s=10, clock=clock)
    with caplog.at_level(logging.WARNING):
        for i in range(1000):
            clock.now = i * 0.005  # 1,000 warnings in 5 s
            summary.warning("dropped", "copy %d dropped", i)
        clock.now = 11
        summary.warning("dropped", "copy %d dropped", 1000)
        summary.warning("other", "something else")
    assert [r.getMessage() for r in caplog.records] == [
        "copy 0 dropped",
        "copy 1000 dropped (and 999 more like it in the last 10s)",
        "something else",
    ]


async def test_a_flood_of_shadow_drops_logs_a_few_lines(caplog: pytest.LogCaptureFixture) -> None:
    backends = {
        n: MemoryBackend(n, latency_s=0.5 if n == "temporal" else 0.0)
        for n in ("bull", "rq", "temporal")
    }
    settings = Settings.from_env(shadow_max_in_flight=2, queues={"email-send": {"mode": "shadow"}})
    router = QueueRouter(settings, backends=backends)
    with caplog.at_level(logging.WARNING, logger="queue_router.shadow"):
        await asyncio.gather(
            *(router.enqueue("email-send", {}, job_id=f"f-{i}") for i in range(500))
        )
        await router.aclose(shadow_grace_s=1)
    lines = [r for r in caplog.records if r.name == "queue_router.shadow"]
    assert 1 <= len(lines) <= 3, [r.getMessage() for r in lines]  # not 498


def test_no_metric_label_can_carry_a_job_id_or_a_routing_key() -> None:
    bounded = {
        "queue",
        "backend",
        "mode",
        "outcome",
        "reason",
        "result",
        "runtime",
        "deployment",
        "event",
    }  # a Worker Deployment's name; a fixed set of events
    for metric in vars(metrics).values():
        if isinstance(metric, prometheus_client.metrics.MetricWrapperBase):
            assert set(metric._labelnames) <= bounded, metric
    enqueues = metrics.ENQUEUES
    assert {*enqueues.count_labels, *enqueues.seconds_labels} <= bounded


def test_enqueue_metrics_expose_a_counter_and_a_cumulative_histogram() -> None:
    counts = Counts()
    labels = {"queue": "q-expo", "backend": "bull"}
    metrics.time_enqueue("q-expo", "bull", 0.001)  # exactly a bound: counted in that bucket
    metrics.time_enqueue("q-expo", "bull", 0.003)
    metrics.time_enqueue("q-expo", "bull", 60.0)  # past the last bound: in +Inf only
    metrics.count_enqueue("q-expo", "bull", "bull", "placed", 2)
    metrics.count_enqueue("q-expo", "bull", "bull", "placed")
    buckets = [counts("queue_router_enqueue_seconds_bucket", le=le, **labels)
               for le in ("0.0005", "0.001", "0.0025", "0.005", "10.0", "+Inf")]  # fmt: skip
    assert buckets == [0, 1, 1, 2, 2, 3]
    assert counts("queue_router_enqueue_seconds_count", **labels) == 3
    assert counts("queue_router_enqueue_seconds_sum", **labels) == pytest.approx(60.004)
    placed = counts("queue_router_enqueue_total", mode="bull", outcome="placed", **labels)
    assert placed == 3
    metrics.time_enqueue("q-expo-batch", "bull", 0.003, 500)  # each job of one batch write
    batch = {"queue": "q-expo-batch", "backend": "bull"}
    assert counts("queue_router_enqueue_seconds_bucket", le="0.0025", **batch) == 0
    assert counts("queue_router_enqueue_seconds_bucket", le="0.005", **batch) == 500
    assert counts("queue_router_enqueue_seconds_sum", **batch) == pytest.approx(1.5)
    exposition = prometheus_client.generate_latest().decode()
    assert "# TYPE queue_router_enqueue_seconds histogram" in exposition
    assert "# TYPE queue_router_enqueue_total counter" in exposition
