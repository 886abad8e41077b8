"""The operator commands, run as operators run them: ``queue-router ...`` subprocesses."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from temporalio.client import Client, WorkflowFailureError

from queue_router import JobOptions, QueueRouter, Settings
from queue_router.processors import Registry
from queue_router.shadow.handoff import BYTES_KEY, COPIES_KEY, INTENTS_KEY
from queue_router.testing.devservers import RedisServer, free_port
from tests.conftest import worker_env
from tests.integration.test_migrate import bull_snapshot
from tests.interop.node import TESTS, run_node
from workflows import JobEnvelope

pytestmark = pytest.mark.integration

QUEUE = "document-generation"
OVERRIDES = json.dumps({QUEUE: {"mode": "bull"}})


async def cli(settings: Settings, *args: str, **env: str) -> tuple[int, str]:
    command = [str(Path(sys.executable).parent / "queue-router"), *args]
    full_env = worker_env(settings, QUEUE_ROUTER_QUEUES=OVERRIDES, **env)
    out = await asyncio.to_thread(subprocess.run, command, env=full_env, capture_output=True,
                                  text=True, timeout=120)  # fmt: skip
    return out.returncode, out.stdout + out.stderr


async def test_migrate_cli_preview_json_and_errors(
    make_router: Callable[..., Any], redis_db: redis.Redis
) -> None:
    router: QueueRouter = await make_router(queues={QUEUE: {"mode": "bull"}})
    await router.enqueue(QUEUE, {"a": 1}, job_id="cli-1")
    redis_db.hset(f"bull:{QUEUE}:cli-bad", mapping={"name": "x", "data": "{", "opts": "{}"})
    redis_db.lpush(f"bull:{QUEUE}:wait", "cli-bad")
    code, out = await cli(router.settings, "migrate", "--queue", QUEUE, "--preview", "--json")
    preview = json.loads(out)
    assert code == 0 and preview[QUEUE]["counts"]["waiting"] == 2
    assert {s["id"] for s in preview[QUEUE]["sample"]} == {"cli-1", "cli-bad"}
    code, out = await cli(router.settings, "migrate", "--queue", QUEUE, "--preview")
    assert code == 0 and "a sample" in out and "cli-bad" in out and "{'" not in out
    code, out = await cli(router.settings, "migrate", "--queue", QUEUE, "--json")
    report = json.loads(out)
    assert code == 1 and report["counts"] == {"moved": 1, "invalid": 1}
    [bad] = [j for j in report["jobs"] if j["outcome"] == "invalid"]
    assert bad["job_id"] == "cli-bad" and "invalid JSON" in bad["reason"]
    code, out = await cli(router.settings, "migrate", "--queue", "document-generaton")
    assert code == 2 and "did you mean document-generation?" in out
    code, out = await cli(router.settings, "migrate", "--all", "--status-filter", "waiting,lost")
    assert code == 2 and "unknown state(s) ['lost']" in out
    code, out = await cli(router.settings, "migrate", "--queue", QUEUE, "--dry-run",
                          MIGRATION_BATCH_SIZE="0")  # fmt: skip
    assert code == 2 and "MIGRATION_BATCH_SIZE" in out
    code, out = await cli(router.settings, "rollback", "--queue", QUEUE, "--terminate")
    assert code == 0 and f"restored {QUEUE}/cli-1" in " ".join(out.split()), out


async def test_stats_shows_legacy_and_temporal_depths(
    make_router: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    router: QueueRouter = await make_router(queues={QUEUE: {"mode": "bull"}})
    await router.enqueue(QUEUE, {}, job_id="s-1")
    await router.enqueue(QUEUE, {}, job_id="s-2", options=JobOptions(delay_ms=60_000))
    wf = f"{QUEUE}/stats-{uuid.uuid4().hex[:6]}"
    await temporal_client.start_workflow("documentGeneration", JobEnvelope(QUEUE, "x", "x", {}),
                                         id=wf, task_queue=task_queue)  # fmt: skip
    for _ in range(50):
        code, out = await cli(router.settings, "stats", "--queue", QUEUE, "--json")
        [row] = json.loads(out)
        if row["temporal"]["running"] >= 1:
            break
        await asyncio.sleep(0.2)
    assert code == 0 and (row["mode"], row["legacy"]) == ("bull", "bull")
    assert (row["legacy_counts"]["waiting"], row["legacy_counts"]["delayed"]) == (1, 1)
    assert row["temporal"]["running"] >= 1


async def test_health_exit_code_follows_servers_and_pollers(
    make_settings: Callable[..., Settings], start_worker: Callable[..., Any]
) -> None:
    settings = make_settings()
    code, out = await cli(settings, "health")
    assert code == 1 and "no worker is polling" in out
    await start_worker(Registry())
    code, out = await cli(settings, "health", "--json")
    assert code == 0, out
    assert {c["check"] for c in json.loads(out)} == {
        "redis",
        "temporal",
        f"pollers {settings.temporal.temporal_task_queue}",
        "shadow handoff",
    }
    code, out = await cli(make_settings(temporal_cluster_url=f"127.0.0.1:{free_port()}"), "health")
    assert code == 1 and "cannot reach Temporal" in out


async def test_health_flags_shadow_copies_no_worker_starts(
    make_settings: Callable[..., Settings], redis_db: redis.Redis
) -> None:
    settings = make_settings()

    async def shadow_row(**env: str) -> dict[str, Any]:
        _, out = await cli(settings, "health", "--json", **env)
        row: dict[str, Any] = {c["check"]: c for c in json.loads(out)}["shadow handoff"]
        return row

    assert (await shadow_row())["ok"]  # nothing handed off
    redis_db.xadd(INTENTS_KEY, {"n": "1", "c": "{}"})  # handed off just now
    redis_db.set(COPIES_KEY, 1)
    assert (await shadow_row())["ok"]
    row = await shadow_row(QUEUE_ROUTER_SHADOW_BACKLOG_MAX="1")
    assert not row["ok"] and "full (QUEUE_ROUTER_SHADOW_BACKLOG_MAX)" in row["detail"]
    redis_db.set(BYTES_KEY, 2)  # the entry's "{}"
    assert (await shadow_row(QUEUE_ROUTER_SHADOW_BACKLOG_MAX_BYTES="3"))["ok"]
    row = await shadow_row(QUEUE_ROUTER_SHADOW_BACKLOG_MAX_BYTES="2")
    assert not row["ok"] and "full (QUEUE_ROUTER_SHADOW_BACKLOG_MAX_BYTES)" in row["detail"]
    assert "1 shadow copies (2 bytes) wait" in row["detail"]
    redis_db.delete(INTENTS_KEY)
    redis_db.xadd(INTENTS_KEY, {"n": "1", "c": "{}"}, id="1-0")  # in 1970: never started
    redis_db.xadd(INTENTS_KEY, {"n": "2", "c": "{}\n{}"})
    redis_db.set(COPIES_KEY, 3)
    row = await shadow_row()
    assert not row["ok"] and row["detail"].startswith("3 shadow copies (2 bytes) wait for a")
    assert "is `queue-router worker` running" in row["detail"]


async def test_check_stuck_finds_dead_worker_jobs_and_long_workflows(
    make_settings: Callable[..., Settings], redis_db: redis.Redis, temporal_client: Client,
    task_queue: str,
) -> None:  # fmt: skip
    redis_db.hset(f"bull:{QUEUE}:orphan", mapping={"name": "x", "data": "{}", "opts": "{}"})
    redis_db.lpush(f"bull:{QUEUE}:active", "orphan")  # active, but its lock is gone
    redis_db.hset(f"bull:{QUEUE}:alive", mapping={"name": "x", "data": "{}", "opts": "{}"})
    redis_db.lpush(f"bull:{QUEUE}:active", "alive")
    redis_db.set(f"bull:{QUEUE}:alive:lock", "token", px=30_000)
    wf = f"{QUEUE}/long-{uuid.uuid4().hex[:6]}"
    await temporal_client.start_workflow("documentGeneration", JobEnvelope(QUEUE, "y", "y", {}),
                                         id=wf, task_queue=task_queue)  # fmt: skip
    await asyncio.sleep(1.5)
    code, out = await cli(
        make_settings(), "check-stuck", "--queue", QUEUE, "--older-than", "1", "--json"
    )
    found = {(s["kind"], s["id"]) for s in json.loads(out)}
    assert code == 1
    assert ("bull-active-lock-expired", "orphan") in found and (
        "workflow-running-long",
        wf,
    ) in found
    assert not any(i == "alive" for _, i in found)


async def test_validate_flags_a_temporal_failure_rate_above_legacy(
    make_settings: Callable[..., Settings], start_worker: Callable[..., Any],
    temporal_client: Client, task_queue: str, redis_db: redis.Redis,
) -> None:  # fmt: skip
    queue = "ai-process-query"
    now = int(asyncio.get_running_loop().time())  # any score: only counts matter here
    redis_db.zadd(f"bull:{queue}:completed", {f"c{n}": 10**13 + now for n in range(9)})
    redis_db.zadd(f"bull:{queue}:failed", {"f1": 10**13 + now})
    code, out = await cli(make_settings(), "validate", "--queue", queue, "--json")
    [row] = json.loads(out)
    assert code == 0 and row["legacy_failure_rate"] == 0.1 and row["temporal_closed"] == 0
    await start_worker(Registry())  # no processor: every workflow of the queue fails at once
    for n in range(3):
        handle = await temporal_client.start_workflow(
            "aiQueryProcessing", JobEnvelope(queue, f"v{n}", "q", {}),
            id=f"{queue}/validate-{uuid.uuid4().hex[:6]}", task_queue=task_queue,
        )  # fmt: skip
        with pytest.raises(WorkflowFailureError):
            await handle.result()
    for _ in range(50):
        code, out = await cli(make_settings(), "validate", "--queue", queue, "--json")
        [row] = json.loads(out)
        if row["temporal_closed"] >= 3:
            break
        await asyncio.sleep(0.2)
    assert code == 1 and row["temporal_failure_rate"] == 1.0 and not row["ok"]


async def test_backup_and_restore_recreate_identical_bull_hashes(
    make_router: Callable[..., Any], redis_server: RedisServer, redis_db: redis.Redis,
    tmp_path: Path,
) -> None:  # fmt: skip
    await run_node(TESTS / "interop" / "bull_admin.js", redis_server.url, QUEUE, "produce")
    router: QueueRouter = await make_router(queues={QUEUE: {"mode": "bull"}})
    await router.enqueue(QUEUE, {"ours": "ü"}, job_id="ours-1", options=JobOptions(priority=2))
    before = bull_snapshot(redis_db)
    counter = redis_db.get(f"bull:{QUEUE}:id")
    file = tmp_path / "backup.jsonl"
    code, out = await cli(router.settings, "backup", "--queue", QUEUE, "--out", str(file))
    assert code == 0 and "backed up 9 jobs" in out
    redis_db.flushall()
    code, out = await cli(router.settings, "restore", "--in", str(file))
    assert code == 0 and "restored 9 jobs" in out, out
    assert bull_snapshot(redis_db) == before and redis_db.get(f"bull:{QUEUE}:id") == counter
    code, out = await cli(router.settings, "restore", "--in", str(file))
    assert code == 2 and f"queue '{QUEUE}'" in out and "already has" in out
