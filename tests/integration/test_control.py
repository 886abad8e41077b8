"""Runtime control: `queue-router set` steers every instance, in separate processes, live.

Where jobs land is what is checked (Bull keys in Redis, workflows in Temporal), not only
``route()``. Redis is killed for a while in the middle: both apps keep routing on the
last state they knew and catch up when it returns.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from temporalio.client import Client

from queue_router import QueueRouter
from queue_router.testing.devservers import RedisServer, free_port
from tests.conftest import REPO, run_cli

pytestmark = pytest.mark.integration

QUEUE = "email-send"


def app(env: dict[str, str], tag: str) -> subprocess.Popen[str]:
    """An app process enqueueing every 50 ms until ``lines_until`` stops it (60 s at most)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TEMPORAL_", "QUEUE_ROUTER_", "REDIS_"))
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.route_loop", QUEUE, "60", tag],
        env={**clean, "PYTHONPATH": str(REPO), **env}, cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


AppStarter = Callable[[dict[str, str], str], subprocess.Popen[str]]


@pytest.fixture
def start_app() -> Iterator[AppStarter]:
    """``app``, with every app a failed test left running stopped and its pipe closed (an
    unread pipe collected later is a ``ResourceWarning`` in whichever test runs then)."""
    started: list[subprocess.Popen[str]] = []

    def start(env: dict[str, str], tag: str) -> subprocess.Popen[str]:
        started.append(app(env, tag))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()  # reaps it and closes its pipe


async def lines_until(apps: list[subprocess.Popen[str]], at: float) -> list[dict[str, Any]]:
    """Stop the apps at time ``at`` (and no earlier); every line they printed."""
    await asyncio.sleep(max(0.0, at - time.time()))
    for p in apps:
        p.send_signal(signal.SIGTERM)
    outs = [(await asyncio.to_thread(p.communicate, timeout=30))[0] for p in apps]
    assert [p.returncode for p in apps] == [0] * len(apps)
    return [json.loads(line) for out in outs for line in out.splitlines()]


@pytest.mark.timeout(120)
async def test_set_steers_two_app_processes_within_two_seconds_and_survives_redis_down(
    own_redis: RedisServer, temporal_server: Any, temporal_client: Client, task_queue: str,
    start_app: AppStarter,
) -> None:  # fmt: skip
    env = {"REDIS_URL": own_redis.url, "TEMPORAL_CLUSTER_URL": temporal_server.target,
           "TEMPORAL_TASK_QUEUE": task_queue, "TEMPORAL_TRAFFIC_PERCENTAGE": "0"}  # fmt: skip
    tags = [f"p{n}-{uuid.uuid4().hex[:6]}" for n in range(2)]
    apps = [start_app(env, tag) for tag in tags]
    marks: dict[str, float] = {}

    async def step(name: str, action: Callable[[], Any], after_s: float) -> None:
        await asyncio.sleep(after_s)
        marks[name] = time.time()
        await asyncio.to_thread(action)

    def set_(*args: str) -> None:
        out = run_cli(["set", QUEUE, *args, "--json"], env)
        assert out.returncode == 0, out.stderr
        row = json.loads(out.stdout)
        live = "--clear" not in args
        assert (row["queue"], row["source"], row["percentage"]) == (QUEUE, "live" if live else "env",
                                                                    100 if live else 0)  # fmt: skip

    await step("live 100", lambda: set_("--percentage", "100", "--reason", "ramp"), 2.5)
    await step("redis down", own_redis.kill, 3.0)
    await step("redis back", own_redis.start, 2.5)
    await step("cleared", lambda: set_("--clear", "--reason", "roll back"), 1.0)
    lines = await lines_until(apps, marks["cleared"] + 5)

    def landed(since: float, until: float) -> set[str]:
        return {job["backend"] for job in lines if since <= job["at"] < until}

    assert landed(0, marks["live 100"]) == {"bull"}
    assert landed(marks["live 100"] + 2, marks["redis down"]) == {"temporal"}
    assert landed(marks["redis down"], marks["redis back"]) == {"temporal"}, "kept its last state"
    assert landed(marks["cleared"] + 2, float("inf")) == {"bull"}, "caught up after Redis returned"
    for tag in tags:  # both processes took part in every phase
        assert {job["backend"] for job in lines if job["job_id"].startswith(tag)} == {
            "bull",
            "temporal",
        }
    # where they landed, checked on the servers: a sample from each phase
    db = redis.Redis.from_url(own_redis.url, decode_responses=True)
    first = next(j for j in lines if j["at"] < marks["live 100"])
    last = next(j for j in reversed(lines) if j["at"] > marks["cleared"] + 2)
    middle = next(j for j in lines if marks["live 100"] + 2 < j["at"] < marks["redis down"])
    assert db.exists(f"bull:{QUEUE}:{first['job_id']}") and db.exists(
        f"bull:{QUEUE}:{last['job_id']}"
    )
    assert not db.exists(f"bull:{QUEUE}:{middle['job_id']}")
    await temporal_client.get_workflow_handle(f"{QUEUE}/{middle['job_id']}").describe()
    audit = run_cli(["audit", QUEUE, "--json"], env)
    changes = json.loads(audit.stdout)
    assert [(c["new"] or {}).get("percentage") for c in changes] == [100, None]
    assert [c["reason"] for c in changes] == ["ramp", "roll back"] and changes[0]["by"]
    status = {row["queue"]: row for row in json.loads(run_cli(["status", "--json"], env).stdout)}
    assert (status[QUEUE]["source"], status[QUEUE]["percentage"]) == ("env", 0)


async def test_invalid_set_exits_2_and_changes_nothing(
    redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    env = {"REDIS_URL": redis_server.url}
    for args in (["email-sned", "--percentage", "5"], [QUEUE, "--percentage", "101"],
                 [QUEUE, "--mode", "kafka"], [QUEUE], [QUEUE, "--clear", "--percentage", "5"]):  # fmt: skip
        out = await asyncio.to_thread(run_cli, ["set", *args], env)
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr
    assert redis_db.keys("queue-router:*") == []


@pytest.mark.timeout(60)
async def test_a_guard_opened_in_one_instance_is_obeyed_by_another_process_and_closed_by_its_probe(
    make_router: Callable[..., Any], redis_server: RedisServer, temporal_server: Any,
    redis_db: redis.Redis, task_queue: str, start_app: AppStarter,
) -> None:  # fmt: skip
    guarded = {"use_temporal_workflows": True, "guard_failures": 2, "guard_cooldown_ms": 5000}
    env = {"REDIS_URL": redis_server.url, "TEMPORAL_CLUSTER_URL": temporal_server.target,
           "TEMPORAL_TASK_QUEUE": task_queue, "USE_TEMPORAL_WORKFLOWS": "true",
           "QUEUE_ROUTER_GUARD_FAILURES": "2", "QUEUE_ROUTER_GUARD_COOLDOWN_MS": "5000"}  # fmt: skip
    b = start_app(env, f"b-{uuid.uuid4().hex[:6]}")  # B's Temporal works all along
    await asyncio.sleep(2.0)
    a: QueueRouter = await make_router(temporal_cluster_url=f"127.0.0.1:{free_port()}",
                                       temporal_retry_ms=100, **guarded)  # fmt: skip
    for i in range(2):  # A's Temporal is down: its guard opens, and is shared
        assert (await a.enqueue(QUEUE, {}, job_id=f"a-{i}")).fell_back
    opened = time.time()
    await asyncio.sleep(1.0)
    shared = redis_db.hget("queue-router:control", "__guard__")  # A's write, B's to read
    # The shared cooldown ends when A's record says (5 s after A's guard opened, which may
    # be a while before ``opened`` on a busy machine); B's probe may come a moment before.
    until = json.loads(shared)["open_until_ms"] / 1000 if shared else 0.0
    assert until > opened + 3, shared
    lines = await lines_until([b], until + 4)

    def landed(since: float, before: float) -> set[str]:
        return {job["backend"] for job in lines if since <= job["at"] < before}

    assert landed(0, opened) == {"temporal"}
    window = [job for job in lines if opened - 0.5 <= job["at"] < until]
    assert landed(opened + 2, until - 0.5) == {"bull"}, f"B did not obey the guard: {window}"
    assert landed(until + 2, float("inf")) == {"temporal"}, "B's probe did not close it"
    assert "__guard__" not in redis_db.hgetall("queue-router:control")
    entries: Any = redis_db.xrange("queue-router:audit:__guard__")
    audit = [json.loads(e["new"]) for _, e in entries]
    assert audit[0]["reason"] and audit[-1] is None  # opened by A, closed by B's probe
