"""Reliability scenario 8: SIGKILL ``queue-router migrate`` mid-run, rerun, count.

Pass: every job exists as exactly one workflow, none is left in (or vanished from)
Redis, and the ledger holds each job once.
"""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import redis
from temporalio.client import Client

from queue_router import QueueRouter
from tests.conftest import worker_env
from workflows import workflow_id

pytestmark = pytest.mark.integration

QUEUE = "ruling-index"
JOBS = 5000
KILLS = 4


@pytest.mark.timeout(300)
async def test_migration_survives_sigkill_at_random_points(
    make_router: Callable[..., Any], spawn_worker: Callable[..., subprocess.Popen[bytes]],
    temporal_client: Client, redis_db: redis.Redis, task_queue: str,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(queues={QUEUE: {"mode": "bull"}})
    ids = [f"crash-{n:05d}" for n in range(JOBS)]
    for start in range(0, JOBS, 500):
        await asyncio.gather(
            *(router.enqueue(QUEUE, {"n": i}, job_id=i) for i in ids[start : start + 500])
        )
    env = worker_env(router.settings, QUEUE_ROUTER_QUEUES=f'{{"{QUEUE}": {{"mode": "bull"}}}}')
    args = ["migrate", "--queue", QUEUE, "--concurrency", "50", "--batch-size", "200"]
    ledger_key = f"queue-router:ledger:bull:bull:{QUEUE}:"
    rng = random.Random(8)
    runs: list[tuple[str, int]] = []
    held_at_kill: list[int] = []  # jobs caught between hold and confirm: the next run ends them
    started = time.monotonic()
    for _ in range(KILLS):
        before = redis_db.hlen(ledger_key)
        target = before + rng.randint(100, 900)
        process = spawn_worker(args, env)
        while True:  # kill once this run has moved a random number of jobs
            if redis_db.hlen(ledger_key) >= target or process.poll() is not None:
                break
            await asyncio.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        await asyncio.to_thread(process.wait)
        runs.append(("killed", redis_db.hlen(ledger_key) - before))
        held_at_kill.append(redis_db.hlen(f"bull:{QUEUE}:qr-migrating"))
    before = redis_db.hlen(ledger_key)
    final = spawn_worker(args, env)
    output, _ = await asyncio.to_thread(final.communicate, timeout=240)
    assert final.returncode == 0, output.decode()[-2000:]
    runs.append(("completed", redis_db.hlen(ledger_key) - before))
    elapsed = time.monotonic() - started

    # Redis: nothing left, nothing held, every job in the ledger once.
    assert redis_db.llen(f"bull:{QUEUE}:wait") == 0
    assert redis_db.hlen(f"bull:{QUEUE}:qr-migrating") == 0
    assert [i for i in ids if redis_db.exists(f"bull:{QUEUE}:{i}")] == []
    assert sorted(redis_db.hkeys(ledger_key)) == ids
    # Temporal: exactly one workflow (one run) per job.
    expected = {workflow_id(QUEUE, i) for i in ids}
    for _ in range(100):  # visibility lags a little behind the starts
        runs_per_id = Counter(
            [w.id async for w in temporal_client.list_workflows(f"TaskQueue = '{task_queue}'")]
        )
        if sum(runs_per_id.values()) >= JOBS:
            break
        await asyncio.sleep(0.2)
    assert set(runs_per_id) == expected
    duplicated = [wf for wf, n in runs_per_id.items() if n > 1]
    assert duplicated == []
    with capsys.disabled():
        print(
            f"\n[migration crash test] {JOBS} jobs, {KILLS} SIGKILLs at random points, then a rerun: "
            f"moved per run {[n for _, n in runs]}; held mid-move at each kill {held_at_kill}; workflows {len(runs_per_id)}, "
            f"duplicated {len(duplicated)}, left in Redis 0, vanished 0; {elapsed:.1f}s "
            f"({JOBS / elapsed:.0f} jobs/s including restarts)"
        )
