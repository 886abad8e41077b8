"""Shadow comparison on real servers: the legacy job is processed by a real Node Bull worker
(or our RQ worker), the shadow copy by our Temporal worker, and each shadow run compares
itself with its legacy job, effects included.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from queue_router import JobOptions, QueueRouter, Settings
from queue_router.connections.redis_client import async_client
from queue_router.evidence.ledger import Evidence, ShadowCounts
from queue_router.processors import Registry
from tests.conftest import run_cli, worker_env
from tests.counts import Counts
from tests.interop.node import TESTS, node_process
from tests.worker_processors import calc

WORKER = TESTS / "interop" / "bull_calc_worker.js"


def calc_queue(legacy: str, **extra: Any) -> dict[str, Any]:
    return {"calc": {"mode": "shadow", "legacy": legacy, "workflow_type": "calcJob",
                     "compare_ignore": ["generated_at"], "compare_within_s": 30, **extra}}  # fmt: skip


def calc_registry() -> Registry:
    registry = Registry()
    registry.processor("calc")(calc)
    return registry


async def comparisons(settings: Settings, total: int, within_s: float = 60) -> ShadowCounts:
    """The shadow counts once ``total`` jobs have a verdict (or the time is up)."""
    evidence = Evidence(async_client(settings.redis.redis_url, 5.0, decode_responses=True))
    try:
        deadline = asyncio.get_running_loop().time() + within_s
        while True:
            counts = await evidence.shadow_counts("calc", None)
            done = counts.compared + counts.ignored
            if done >= total or asyncio.get_running_loop().time() > deadline:
                return counts
            await asyncio.sleep(0.5)
    finally:
        await evidence.aclose()


def report(settings: Settings, queues: dict[str, Any]) -> dict[str, Any]:
    env = {"REDIS_URL": settings.redis.redis_url, "QUEUE_ROUTER_QUEUES": json.dumps(queues)}
    out = run_cli(["shadow-report", "calc", "--since", "10m", "--json"], env)
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout)
    return result


async def test_bull_jobs_compared_with_their_shadow_runs_effects_included(
    make_router: Callable[..., Any], start_worker: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    counts = Counts()
    router: QueueRouter = await make_router(queues=calc_queue("bull"))
    await start_worker(calc_registry(), queues=calc_queue("bull"))
    jobs: dict[str, tuple[dict[str, Any], JobOptions | None]] = {
        "same-1": ({"n": 1}, None),
        "same-2": ({"n": 2, "send": True, "to": "a@b.c"}, None),
        "same-3": ({"n": 3}, None),
        "other-total": ({"n": 4, "temporal_factor": 3}, None),
        "skips-send": ({"n": 5, "send": True, "to": "x@y.z", "temporal_skips_send": True}, None),
        "removed": ({"n": 6}, JobOptions(remove_on_complete=True)),
    }
    with node_process(WORKER, router.settings.redis.redis_url, "bull", "calc", "60"):
        for job_id, (data, options) in jobs.items():
            receipt = await router.enqueue("calc", data, job_id=job_id, options=options)
            assert receipt.shadow_started
        found = await comparisons(router.settings, len(jobs))
    assert (found.matched, found.mismatched, found.ignored) == (3, 2, 1), found
    assert counts("queue_router_shadow_comparison_total", queue="calc", result="match") == 3
    assert counts("queue_router_shadow_comparison_total", queue="calc", result="mismatch") == 2
    assert counts("queue_router_shadow_comparison_total", queue="calc", result="ignored") == 1

    shown = report(router.settings, calc_queue("bull"))
    assert (shown["compared"], shown["matched"], shown["mismatched"], shown["ignored"]) == (
        5, 3, 2, 1)  # fmt: skip
    assert shown["mismatch_rate"] == pytest.approx(2 / 5)
    by_id = {m["job_id"]: m for m in shown["mismatches"]}
    assert set(by_id) == {"other-total", "skips-send"}
    assert by_id["other-total"]["legacy"]["value"]["total"] == 8
    assert by_id["other-total"]["temporal"]["value"]["total"] == 12
    assert by_id["skips-send"]["legacy"]["effects"] == ["send"]
    assert by_id["skips-send"]["temporal"]["effects"] == []
    assert "effects differ" in by_id["skips-send"]["reason"]


async def test_rq_jobs_compared_with_their_shadow_runs(
    make_router: Callable[..., Any], start_worker: Callable[..., Any], redis_db: redis.Redis,
    spawn_worker: Callable[..., Any],
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(queues=calc_queue("rq"))
    await start_worker(calc_registry(), queues=calc_queue("rq"))
    env = worker_env(router.settings, QUEUE_ROUTER_QUEUES=json.dumps(calc_queue("rq")))
    spawn_worker(["rq-worker", "--queue", "calc"], env)
    await router.enqueue("calc", {"n": 1, "send": True, "to": "a@b.c"}, job_id="rq-same")
    await router.enqueue("calc", {"n": 2, "temporal_factor": 5}, job_id="rq-other")
    found = await comparisons(router.settings, 2)
    assert (found.matched, found.mismatched, found.ignored) == (1, 1, 0), found
    shown = report(router.settings, calc_queue("rq"))
    assert [m["job_id"] for m in shown["mismatches"]] == ["rq-other"]
    assert shown["mismatches"][0]["legacy"]["value"]["total"] == 4


async def test_only_the_sampled_keys_are_shadowed_and_drops_are_reported(
    make_router: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    queues = calc_queue("bull", shadow_percentage=10)
    router: QueueRouter = await make_router(
        queues=queues, shadow_starts="in-process", shadow_max_in_flight=1
    )
    sampled = [k for k in (f"user-{i}" for i in range(400)) if router.route("calc", k).shadow]
    assert 20 <= len(sampled) <= 60  # about 10% of 400, the same keys on every call
    assert sampled == [k for k in (f"user-{i}" for i in range(400))
                       if router.route("calc", k).shadow]  # fmt: skip
    receipts = await asyncio.gather(
        *(router.enqueue("calc", {"n": 1}, key=key) for key in sampled[:10])
    )
    dropped = sum(1 for r in receipts if not r.shadow_started)
    assert dropped >= 1  # one in flight at a time: a burst of ten drops some
    await router.aclose()  # writes the pending drop count
    shown = report(router.settings, queues)
    assert shown["dropped"] == dropped
