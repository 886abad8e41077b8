"""The ``list`` legacy backend with the consumers it serves: an unmodified Node ``BRPOP``
(ioredis) and a Python one read exactly the payloads enqueued, once per job id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from queue_router import QueueRouter
from tests.conftest import worker_env
from tests.integration.test_worker_command import wait_for
from tests.interop.node import TESTS, run_node

PLAIN = {"ingest": {"legacy": "list", "list_key": "ingest:jobs", "workflow_type": "ingestJob"}}


async def test_node_and_python_brpop_consumers_read_exactly_the_payloads(
    make_router: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(queues=PLAIN)
    payloads: list[dict[str, Any]] = [{"trace": "t-1", "spans": [1, 2]}, {"trace": "t-2", "note": "Olá ✓"},
                {"trace": "t-3"}, {"trace": "t-4"}]  # fmt: skip
    receipts = [await router.enqueue("ingest", p, job_id=p["trace"]) for p in payloads]
    again = await router.enqueue("ingest", payloads[0], job_id="t-1")  # same id: nothing pushed
    assert [r.backends for r in receipts] == [("list",)] * 4
    assert again.placements[0].existing and redis_db.llen("ingest:jobs") == 4
    out = await run_node(TESTS / "interop" / "list_consumer.js", router.settings.redis.redis_url,
                         "ingest:jobs", "2")  # fmt: skip
    assert [json.loads(line) for line in out.splitlines()] == payloads[:2]  # FIFO, as before
    popped = [redis_db.brpop(["ingest:jobs"], 5) for _ in range(2)]
    assert [json.loads(element) for _, element in popped] == payloads[2:]  # type: ignore[misc]


async def test_the_envelope_carries_the_job_id_and_options(
    make_router: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    queues = {"ingest": {**PLAIN["ingest"], "list_envelope": True}}
    router: QueueRouter = await make_router(queues=queues)
    await router.enqueue("ingest", {"trace": "t-9"}, job_id="t-9")
    element = json.loads(str(redis_db.rpop("ingest:jobs")))
    assert (element["job_id"], element["queue"], element["data"]) == ("t-9", "ingest",
                                                                       {"trace": "t-9"})  # fmt: skip
    assert element["options"]["attempts"] == 1


async def test_a_list_queue_is_the_fallback_when_temporal_is_down(
    make_router: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    queues = {"ingest": {**PLAIN["ingest"], "percentage": 100}}
    router: QueueRouter = await make_router(queues=queues, temporal_cluster_url="127.0.0.1:1",
                                            temporal_retry_ms=100)  # fmt: skip
    receipt = await router.enqueue("ingest", {"trace": "t-5"}, job_id="t-5")
    assert receipt.fell_back and receipt.backends == ("list",)
    assert json.loads(str(redis_db.rpop("ingest:jobs"))) == {"trace": "t-5"}


async def test_a_list_worker_killed_mid_job_loses_nothing(
    make_router: Callable[..., Any], redis_db: redis.Redis, spawn_worker: Callable[..., Any],
    tmp_path: Path,
) -> None:  # fmt: skip
    queues = {"slow": {"legacy": "list", "list_envelope": True, "workflow_type": "slowJob"}}
    router: QueueRouter = await make_router(queues=queues)
    log = tmp_path / "runs.log"
    await router.enqueue("slow", {"file": str(log), "seconds": 3}, job_id="s-1")
    await router.enqueue("slow", {"file": str(log), "seconds": 0}, job_id="s-2")
    env = worker_env(router.settings, QUEUE_ROUTER_QUEUES=json.dumps(queues),
                     QUEUE_ROUTER_LIST_WORKER_HEARTBEAT_S="1")  # fmt: skip
    first = spawn_worker(["list-worker", "--queue", "slow"], env)
    await wait_for(lambda: log.exists() and "start" in log.read_text(), "the first job to start")
    first.kill()  # SIGKILL mid-job: its element is in its processing list
    first.wait()
    assert redis_db.llen("slow") == 1  # s-2 still waits; s-1 is held by the dead worker
    spawn_worker(["list-worker", "--queue", "slow"], env)
    await wait_for(lambda: log.read_text().count("end") == 2, "both jobs to finish", 30)
    assert log.read_text().count("start") == 3  # s-1 ran again after the kill, s-2 once
    assert redis_db.llen("slow") == 0 and not redis_db.exists("slow:failed")
    await wait_for(lambda: not [k for k in redis_db.scan_iter("{slow}:queue-router:processing:*")
                             if redis_db.llen(k)], "processing lists to empty")  # fmt: skip
