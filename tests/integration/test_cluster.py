"""Redis Cluster: Bull jobs, claims, placement memory, operator commands, and a killed master.

A real 3-master cluster (``RedisClusterServer``); the Bull prefix is the hash tag
``{bull}``, so every key of a queue lives in one slot, as Bull requires on a cluster.
The migration crash test runs here too (``test_migrate_crash.py``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import redis
from temporalio.client import Client

from backends.temporal import TemporalBackend
from queue_router import JobOptions, QueueRouter
from queue_router.placements import HeldTogether, Recalled, RedisPlacementMemory
from queue_router.processors import EffectClaims, effect_key
from queue_router.receipts import Placement
from queue_router.shadow.handoff import INTENTS_KEY
from queue_router.shadow.relay import ShadowRelay
from queue_router.testing.devservers import RedisClusterServer
from queue_router.wiring import control_client
from tests.conftest import CLUSTER_PREFIX, cluster_fields, run_cli
from tests.integration.test_faults import attempts_of, bull_entries, crash_and_restart, run_stream
from tests.interop.node import TESTS, run_node
from tests.oracle import audit
from tests.relay import copies_waiting, running, until

pytestmark = [pytest.mark.integration, pytest.mark.interop]

WORKER = TESTS / "interop" / "bull_worker.js"


async def test_an_unmodified_bull_worker_on_ioredis_cluster_processes_our_jobs(
    make_router: Callable[..., Any], redis_cluster: RedisClusterServer,
    cluster_db: redis.RedisCluster,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(
        queues={"email-send": {"mode": "bull"}}, **cluster_fields(redis_cluster)
    )
    await router.enqueue("email-send", {"n": "plain"}, job_id="c-plain")
    await router.enqueue("email-send", {"n": "p9"}, job_id="c-p9", options=JobOptions(priority=9))
    await router.enqueue("email-send", {"n": "p1"}, job_id="c-p1", options=JobOptions(priority=1))
    again = await router.enqueue("email-send", {"n": "plain"}, job_id="c-plain")
    assert again.placements[0].existing
    home = redis_cluster.node_for_slot_of(CLUSTER_PREFIX)
    with redis.Redis(port=home.port, decode_responses=True) as node:  # every key in one slot
        assert node.exists("{bull}:email-send:c-plain", "{bull}:email-send:wait") == 2
    seen = [json.loads(line) for line in (await run_node(
        WORKER, f"cluster:{redis_cluster.seeds}", CLUSTER_PREFIX, "email-send", "3",
    )).splitlines()]  # fmt: skip
    assert [job["id"] for job in seen] == ["c-p1", "c-p9", "c-plain"]  # Bull's priority order
    assert seen[2]["data"] == {"n": "plain"}
    assert cluster_db.zcard("{bull}:email-send:completed") == 3


async def test_claims_and_placement_memory_on_the_cluster(
    redis_cluster: RedisClusterServer, cluster_db: redis.RedisCluster
) -> None:
    seeds = [("127.0.0.1", node.port) for node in redis_cluster.nodes]
    claims = EffectClaims.from_url("redis://127.0.0.1/0", cluster_nodes=seeds, lease_ms=5000)
    memory = RedisPlacementMemory("redis://127.0.0.1/0", ttl_s=60, timeout_s=5,
                                  cluster_nodes=seeds)  # fmt: skip
    performed: list[int] = []

    async def send() -> str:
        performed.append(1)
        return "sent"

    try:
        for job in range(20):  # keys spread over every master
            key = effect_key("email-send", f"job-{job}", "send")
            outcomes = await asyncio.gather(*(claims.run_once(key, send) for _ in range(3)))
            assert sorted(outcomes) == [(False, "sent"), (False, "sent"), (True, "sent")]
            placement = Placement(backend="temporal", job_id=f"email-send/job-{job}")
            await memory.held("email-send", f"job-{job}", placement)
            await memory.doubt("email-send", f"doubt-{job}")
        assert len(performed) == 20
        placement = Placement(backend="temporal", job_id="email-send/many")
        together = HeldTogether(memory)  # enqueue_many's view: one write for the batch
        for job in range(20):
            await together.held("email-send", f"many-{job}", placement)
        await together.flush()
        fresh = RedisPlacementMemory("redis://127.0.0.1/0", ttl_s=60, timeout_s=5,
                                     cluster_nodes=seeds)  # fmt: skip
        assert (await fresh.recall("email-send", "job-7")).state == "held"  # type: ignore[union-attr]
        assert (await fresh.recall("email-send", "doubt-7")).state == "doubt"  # type: ignore[union-attr]
        for job in range(20):  # one batch, its keys on every master
            assert (await fresh.recall("email-send", f"many-{job}")) == Recalled("held")
        await fresh.aclose()
    finally:
        await claims.aclose()
        await memory.aclose()


async def test_operator_commands_on_the_cluster(
    make_router: Callable[..., Any], redis_cluster: RedisClusterServer,
    cluster_db: redis.RedisCluster, tmp_path: Path,
) -> None:  # fmt: skip
    queues = {"email-send": {"mode": "bull"}}
    router: QueueRouter = await make_router(queues=queues, **cluster_fields(redis_cluster))
    for i in range(5):
        await router.enqueue("email-send", {"i": i}, job_id=f"ops-{i}")
    await router.enqueue("email-send", {}, job_id="ops-late", options=JobOptions(delay_ms=60_000))
    env = {"REDIS_URL": "redis://127.0.0.1/0", "REDIS_CLUSTER_NODES": redis_cluster.seeds,
           "BULL_PREFIX": CLUSTER_PREFIX, "QUEUE_ROUTER_QUEUES": json.dumps(queues),
           "TEMPORAL_CLUSTER_URL": router.settings.temporal.temporal_cluster_url}  # fmt: skip
    stats = await asyncio.to_thread(run_cli, ["stats", "--queue", "email-send", "--json"], env)
    assert stats.returncode == 0, stats.stderr
    [row] = json.loads(stats.stdout)
    assert (row["legacy_counts"]["waiting"], row["legacy_counts"]["delayed"]) == (5, 1), row
    before = {k: cluster_db.dump(k) for k in cluster_db.keys("{bull}:email-send:*")}
    backup = tmp_path / "email-send.jsonl"
    saved = await asyncio.to_thread(
        run_cli, ["backup", "--queue", "email-send", "--out", str(backup)], env
    )
    assert saved.returncode == 0, saved.stderr
    cluster_db.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    restored = await asyncio.to_thread(run_cli, ["restore", "--in", str(backup)], env)
    assert restored.returncode == 0, restored.stderr
    after = {k: cluster_db.dump(k) for k in cluster_db.keys("{bull}:email-send:*")}
    assert sorted(after) == sorted(before)
    assert cluster_db.lrange("{bull}:email-send:wait", 0, -1) == [
        f"ops-{i}" for i in reversed(range(5))
    ]


async def test_a_master_killed_during_enqueues(
    make_settings: Callable[..., Any], redis_cluster: RedisClusterServer,
    cluster_db: redis.RedisCluster, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    home = redis_cluster.node_for_slot_of(CLUSTER_PREFIX)  # the master of the queue's slot
    router = QueueRouter(make_settings(queues={"email-send": {"mode": "bull"}},
                                       redis_timeout_ms=2000, **cluster_fields(redis_cluster)))  # fmt: skip
    results = await run_stream(
        router, 1500, duration_s=4, fault_at_s=random.uniform(0.8, 1.6),
        fault=lambda: crash_and_restart(home, down_s=1.0),
    )  # fmt: skip
    await router.aclose()
    entries = bull_entries(cluster_db, CLUSTER_PREFIX)
    hashes = {
        job for job, _, _ in results if cluster_db.exists(f"{CLUSTER_PREFIX}:email-send:{job}")
    }
    found = {job: {"bull": max(entries[job], job in hashes)} for job, _, _ in results}
    result = audit(attempts_of(router, results), found)
    outcomes = collections.Counter(outcome for _, outcome, _ in results)
    with capsys.disabled():
        print(f"\n[cluster master killed] {dict(outcomes)} {result.figures()}")
    assert result.passed, result
    assert outcomes["failed"] + outcomes["unknown"] > 0, "the kill did not bite"


async def test_shadow_copies_handed_off_and_relayed_on_the_cluster(
    make_router: Callable[..., Any], redis_cluster: RedisClusterServer,
    cluster_db: redis.RedisCluster, temporal_client: Client,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(temporal_shadow_mode=True,
                                            **cluster_fields(redis_cluster))  # fmt: skip
    run = uuid.uuid4().hex[:8]
    receipts = [await router.enqueue("email-send", {"n": i}, job_id=f"{run}-{i}") for i in range(5)]
    assert all(r.shadow_started for r in receipts)
    await router.aclose()  # the last copies' write
    assert copies_waiting(cluster_db) == 5
    relay = ShadowRelay(control_client(router.settings), TemporalBackend(client=temporal_client),
                        block_s=0.2)  # fmt: skip
    async with running(relay), asyncio.timeout(30):
        await until(lambda: not cluster_db.xlen(INTENTS_KEY))
    for i in range(5):
        handle = temporal_client.get_workflow_handle(f"shadow/email-send/{run}-{i}")
        assert (await (await handle.describe()).memo())["shadow"] is True
