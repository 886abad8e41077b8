"""The ``list`` legacy backend with the consumers it serves: an unmodified Node ``BRPOP``
(ioredis) and a Python one read exactly the payloads enqueued, once per job id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis

from queue_router import QueueRouter
from tests.interop.node import TESTS, run_node

PLAIN = {"ingest": {"legacy": "list", "list_key": "ingest:jobs", "workflow_type": "ingestJob"}}


async def test_node_and_python_brpop_consumers_read_exactly_the_payloads(
    make_router: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(queues=PLAIN)
    payloads = [{"trace": "t-1", "spans": [1, 2]}, {"trace": "t-2", "note": "Olá ✓"},
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
