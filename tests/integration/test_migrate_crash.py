"""Reliability scenario 8: SIGKILL ``queue-router migrate`` mid-run, rerun, count.

Pass: every job exists as exactly one workflow, none is left in (or vanished from)
Redis, and the ledger holds each job once. Run on a single Redis and on a Redis Cluster.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis
from temporalio.client import Client

from queue_router import QueueRouter
from queue_router.testing.devservers import RedisClusterServer
from tests.conftest import cluster_fields, worker_env
from tests.visibility import listed
from workflows import workflow_id

pytestmark = pytest.mark.integration

QUEUE = "ruling-index"


async def kill_when(
    process: subprocess.Popen[bytes], count: Callable[[], int], target: int
) -> None:
    """SIGKILL ``process`` once ``count()`` reached ``target`` (or it ended), and reap it."""
    while True:
        if count() >= target or process.poll() is not None:
            break
        await asyncio.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    await asyncio.to_thread(process.wait)


async def crash_and_rerun(
    router: QueueRouter, db: Any, spawn_worker: Callable[..., subprocess.Popen[bytes]],
    temporal_client: Client, task_queue: str, *, jobs: int, kills: int, env: dict[str, str],
) -> str:  # fmt: skip
    """Enqueue ``jobs`` Bull jobs, kill ``migrate`` ``kills`` times, rerun, check, summarise."""
    prefix = router.settings.redis.bull_prefix
    tag = uuid.uuid4().hex[:6]  # workflow ids never met before on this (session) server
    ids = [f"crash-{tag}-{n:05d}" for n in range(jobs)]
    for start in range(0, jobs, 500):
        await asyncio.gather(
            *(router.enqueue(QUEUE, {"n": i}, job_id=i) for i in ids[start : start + 500])
        )
    args = ["migrate", "--queue", QUEUE, "--concurrency", "50", "--batch-size", "200"]
    ledger_key = f"queue-router:ledger:bull:{prefix}:{QUEUE}:"
    hold_key = f"{prefix}:{QUEUE}:qr-migrating"
    rng = random.Random(8)
    runs: list[int] = []
    held_at_kill: list[int] = []  # jobs caught between hold and confirm: the next run ends them
    started = time.monotonic()
    for _ in range(kills):
        before = db.hlen(ledger_key)
        target = before + rng.randint(jobs // 50, jobs // 6)
        await kill_when(spawn_worker(args, env), lambda: int(db.hlen(ledger_key)), target)
        runs.append(db.hlen(ledger_key) - before)
        held_at_kill.append(db.hlen(hold_key))
    before = db.hlen(ledger_key)
    final = spawn_worker(args, env)
    output, _ = await asyncio.to_thread(final.communicate, timeout=240)
    assert final.returncode == 0, output.decode()[-2000:]
    runs.append(db.hlen(ledger_key) - before)
    elapsed = time.monotonic() - started

    # Redis: nothing left, nothing held, every job in the ledger once.
    assert db.llen(f"{prefix}:{QUEUE}:wait") == 0
    assert db.hlen(hold_key) == 0
    assert [i for i in ids if db.exists(f"{prefix}:{QUEUE}:{i}")] == []
    assert sorted(db.hkeys(ledger_key)) == ids
    # Temporal: exactly one workflow (one run) per job.
    expected = {workflow_id(QUEUE, i) for i in ids}
    runs_per_id = Counter(await listed(temporal_client, task_queue, at_least=jobs))
    assert set(runs_per_id) == expected
    duplicated = [wf for wf, n in runs_per_id.items() if n > 1]
    assert duplicated == []
    return (
        f"{jobs} jobs, {kills} SIGKILLs at random points, then a rerun: moved per run {runs}; "
        f"held mid-move at each kill {held_at_kill}; workflows {len(runs_per_id)}, "
        f"duplicated {len(duplicated)}, left in Redis 0, vanished 0; {elapsed:.1f}s "
        f"({jobs / elapsed:.0f} jobs/s including restarts)"
    )


@pytest.mark.timeout(300)
async def test_migration_survives_sigkill_at_random_points(
    make_router: Callable[..., Any], spawn_worker: Callable[..., subprocess.Popen[bytes]],
    temporal_client: Client, redis_db: redis.Redis, task_queue: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    queues = {QUEUE: {"mode": "bull"}}
    router: QueueRouter = await make_router(queues=queues)
    env = worker_env(router.settings, QUEUE_ROUTER_QUEUES=json.dumps(queues))
    summary = await crash_and_rerun(router, redis_db, spawn_worker, temporal_client, task_queue,
                                    jobs=5000, kills=4, env=env)  # fmt: skip
    with capsys.disabled():
        print(f"\n[migration crash test] {summary}")


@pytest.mark.timeout(300)
async def test_migration_survives_sigkill_on_a_redis_cluster(
    make_router: Callable[..., Any], spawn_worker: Callable[..., subprocess.Popen[bytes]],
    temporal_client: Client, redis_cluster: RedisClusterServer, cluster_db: redis.RedisCluster,
    task_queue: str, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    queues = {QUEUE: {"mode": "bull"}}
    fields = cluster_fields(redis_cluster)
    router: QueueRouter = await make_router(queues=queues, **fields)
    env = worker_env(router.settings, QUEUE_ROUTER_QUEUES=json.dumps(queues),
                     REDIS_CLUSTER_NODES=fields["redis_cluster_nodes"],
                     BULL_PREFIX=fields["bull_prefix"])  # fmt: skip
    summary = await crash_and_rerun(router, cluster_db, spawn_worker, temporal_client, task_queue,
                                    jobs=1500, kills=3, env=env)  # fmt: skip
    with capsys.disabled():
        print(f"\n[migration crash test, Redis Cluster] {summary}")
