"""The rollout controller on real servers: steady traffic through two routers, the legacy
side processed by a real Node Bull worker, the Temporal side by our worker; the
controller runs as the operator runs it (a ``queue-router rollout`` subprocess).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis

from queue_router import QueueRouter
from queue_router.control import CONTROL
from tests.conftest import run_cli
from tests.integration.test_shadow_compare import WORKER, calc_registry
from tests.interop.node import node_process

STEPS = ["--steps", "20,50,100", "--every", "2s", "--min-samples", "10"]


def calc_queue(percentage: float = 0) -> dict[str, Any]:
    return {"calc": {"mode": "percentage", "percentage": percentage, "legacy": "bull",
                     "workflow_type": "calcJob"}}  # fmt: skip


@contextlib.asynccontextmanager
async def steady_traffic(router: QueueRouter, data: dict[str, Any]) -> AsyncIterator[None]:
    """About 50 jobs a second on ``calc`` with random keys, until the block ends."""
    stop = asyncio.Event()

    async def produce() -> None:
        while not stop.is_set():
            await asyncio.gather(*(router.enqueue("calc", data, key=uuid.uuid4().hex)
                                   for _ in range(5)))  # fmt: skip
            await asyncio.sleep(0.1)

    task = asyncio.create_task(produce())
    try:
        yield
    finally:
        stop.set()
        await task


async def rollout(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    out = await asyncio.to_thread(run_cli, ["rollout", "calc", *args, "--json"], env,
                                  timeout_s=120)  # fmt: skip
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return out.returncode, events, out.stderr


def cli_env(router: QueueRouter, queues: dict[str, Any]) -> dict[str, str]:
    return {"REDIS_URL": router.settings.redis.redis_url, "QUEUE_ROUTER_QUEUES": json.dumps(queues)}


def live(redis_db: redis.Redis) -> dict[str, Any] | None:
    text = redis_db.hget(CONTROL, "calc")
    return None if text is None else json.loads(str(text))


async def test_healthy_rollout_walks_every_step_resuming_from_the_live_state(
    make_router: Callable[..., Any], start_worker: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(queues=calc_queue())
    await start_worker(calc_registry(), queues=calc_queue())
    env = cli_env(router, calc_queue())
    assert (
        run_cli(["set", "calc", "--percentage", "20", "--reason", "by hand"], env).returncode == 0
    )
    with node_process(WORKER, router.settings.redis.redis_url, "bull", "calc", "90"):
        async with steady_traffic(router, {"n": 1}):
            code, events, stderr = await rollout(env, *STEPS)
    assert code == 0, (events, stderr)
    sets = [e["percentage"] for e in events if e["event"] == "set"]
    assert sets == [50, 100]  # 20 was live already: resumed there, not set again
    assert events[-1]["decision"] == "healthy" and events[-1]["percentage"] == 100
    assert (live(redis_db) or {})["percentage"] == 100
    audit = json.loads(run_cli(["audit", "calc", "--json"], env).stdout)
    assert [e["new"]["percentage"] for e in audit] == [20, 50, 100]
    assert [e["by"].startswith("rollout-controller") for e in audit] == [False, True, True]


async def assert_rolled_back(
    make_router: Callable[..., Any], start_worker: Callable[..., Any], redis_db: redis.Redis,
    data: dict[str, Any], check: str,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(queues=calc_queue())
    other: QueueRouter = await make_router(queues=calc_queue())  # a second instance
    await start_worker(calc_registry(), queues=calc_queue())
    env = cli_env(router, calc_queue())
    with node_process(WORKER, router.settings.redis.redis_url, "bull", "calc", "90"):
        async with steady_traffic(router, data):
            code, events, stderr = await rollout(env, *STEPS)
            ended = time.monotonic()
            keys = [f"user-{i}" for i in range(200)]
            while any(r.route("calc", k).to_temporal for r in (router, other) for k in keys):
                assert time.monotonic() - ended < 2.0, "a router still routes to Temporal"
                await asyncio.sleep(0.05)
    assert code == 1, (events, stderr)
    checks = [e for e in events if e["event"] == "check"]
    assert checks[-1]["decision"] == "trip" and checks[-1]["percentage"] == 20
    assert all(c["decision"] == "wait" for c in checks[:-1]) and len(checks) <= 2
    assert any(check in reason for reason in checks[-1]["reasons"]), checks[-1]
    setting = live(redis_db) or {}
    assert (setting["percentage"], setting["source"]) == (0, "guard")
    assert check in setting["reason"]


async def test_a_processor_failing_only_under_temporal_is_rolled_back(
    make_router: Callable[..., Any], start_worker: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    await assert_rolled_back(make_router, start_worker, redis_db, {"n": 1, "temporal_fails": True},
                             "error rate")  # fmt: skip


async def test_a_processor_slow_only_under_temporal_trips_the_p99_check(
    make_router: Callable[..., Any], start_worker: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    await assert_rolled_back(make_router, start_worker, redis_db,
                             {"n": 1, "temporal_sleep_s": 0.3}, "p99")  # fmt: skip


async def test_dry_run_prints_decisions_and_changes_nothing(
    make_router: Callable[..., Any], start_worker: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(queues=calc_queue(20))
    await start_worker(calc_registry(), queues=calc_queue(20))
    env = cli_env(router, calc_queue(20))
    with node_process(WORKER, router.settings.redis.redis_url, "bull", "calc", "90"):
        async with steady_traffic(router, {"n": 1}):
            code, events, stderr = await rollout(env, *STEPS, "--dry-run")
    assert code == 0, (events, stderr)
    assert [e["percentage"] for e in events if e["event"] == "set"] == [50, 100]
    assert all(e["dry_run"] for e in events)
    assert live(redis_db) is None
    assert not redis_db.exists("queue-router:audit:calc")
    assert not redis_db.exists("queue-router:rollout:calc:lease")


async def test_a_second_controller_for_the_queue_exits_2_naming_the_first(
    make_router: Callable[..., Any], redis_db: redis.Redis, spawn_worker: Callable[..., Any],
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(queues=calc_queue())
    env = cli_env(router, calc_queue())
    first = spawn_worker(["rollout", "calc", "--every", "60s"], {**env, "PATH": "/usr/bin:/bin"})
    deadline = time.monotonic() + 30
    while not redis_db.exists("queue-router:rollout:calc:lease"):
        assert first.poll() is None, first.communicate()[0]
        assert time.monotonic() < deadline, "the first controller never took the lease"
        await asyncio.sleep(0.1)
    second = run_cli(["rollout", "calc", "--every", "60s"], env)
    assert second.returncode == 2, second.stderr
    holder = str(redis_db.get("queue-router:rollout:calc:lease"))
    assert f"already run by {holder}" in second.stderr
