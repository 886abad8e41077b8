"""Prometheus metrics as a scraper sees them: the worker's /metrics and the FastAPI example's."""

from __future__ import annotations

import asyncio
import re
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client

from queue_router import JobOptions, QueueRouter
from queue_router.telemetry import metrics
from queue_router.telemetry.metrics_server import loopback_port
from tests.conftest import worker_env
from workflows import JobResult

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).parents[2] / "examples"


def scrape(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_the_worker_serves_job_metrics_and_the_sdks_on_one_port(
    make_settings: Callable[..., Any], make_router: Callable[..., Any],
    spawn_worker: Callable[..., Any], temporal_client: Client,
) -> None:  # fmt: skip
    port = loopback_port()
    worker = spawn_worker(["worker", "--metrics-port", str(port)], worker_env(make_settings()))
    flaky = {"flaky": {"workflow_type": "flakyJob"}}
    router: QueueRouter = await make_router(use_temporal_workflows=True, queues=flaky)
    receipts = [
        await router.enqueue("flaky", {}, job_id=f"fl-{i}", options=JobOptions(attempts=3))
        for i in range(2)
    ]  # each fails twice (retried), then completes
    for receipt in receipts:
        handle = temporal_client.get_workflow_handle(
            receipt.placements[0].job_id, result_type=JobResult
        )
        assert (await asyncio.wait_for(handle.result(), 60)).attempt == 3
    text = await asyncio.to_thread(
        lambda: (
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
        )
    )
    samples = scrape(text)
    job = {"queue": "flaky", "runtime": "temporal"}
    assert value(samples, "queue_router_job_total", outcome="retried", **job) == 4
    assert value(samples, "queue_router_job_total", outcome="completed", **job) == 2
    assert value(samples, "queue_router_job_total", outcome="failed", **job) == 0
    assert value(samples, "queue_router_job_seconds_count", **job) == 6
    assert re.search(r"^temporal_\w+", text, re.MULTILINE), "the Temporal SDK's metrics are missing"
    assert "temporal_workflow_completed" in text
    assert worker.poll() is None


async def test_the_fastapi_example_opens_the_router_and_serves_metrics(
    redis_server: Any, temporal_server: Any, redis_db: Any, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("TEMPORAL_CLUSTER_URL", temporal_server.target)
    monkeypatch.setenv("TEMPORAL_TRAFFIC_PERCENTAGE", "0")
    monkeypatch.syspath_prepend(str(EXAMPLES))
    from fastapi_app import app

    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),  # what uvicorn runs at startup and shutdown
        httpx.AsyncClient(
            transport=transport, base_url="http://app", follow_redirects=True
        ) as client,
    ):
        before = scrape((await client.get("/metrics/")).text)
        for user in ("u1", "u2", "u3"):
            response = await client.post(f"/signup/{user}", params={"email": f"{user}@example.com"})
            assert response.status_code == 200 and response.json()["backends"] == ["bull"]
        after = scrape((await client.get("/metrics/")).text)
    labels = {
        "queue": "email-send-welcome",
        "backend": "bull",
        "mode": "percentage",
        "outcome": "placed",
    }
    assert (
        value(after, "queue_router_enqueue_total", **labels)
        - value(before, "queue_router_enqueue_total", **labels)
        == 3
    )
    assert value(after, "queue_router_route_percentage", queue="email-send-welcome") == 0
    assert redis_db.exists("bull:email-send-welcome:welcome-u2")


def test_the_alert_rules_use_only_metrics_that_exist() -> None:
    rules = (EXAMPLES / "prometheus-alerts.yml").read_text()
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
    exported = {
        family.name + suffix
        for metric in vars(metrics).values()
        if isinstance(metric, prometheus_client.metrics.MetricWrapperBase | metrics.EnqueueMetrics)
        for family in metric.describe()
        for suffix in suffixes[family.type]
    }
    used = set(re.findall(r"\bqueue_router_\w+", rules))
    assert used and used <= exported, used - exported
    for trigger in ("> 2 *", "> 5 *", "queue_router_fallback_total", 'result="dropped"'):
        assert trigger in rules
