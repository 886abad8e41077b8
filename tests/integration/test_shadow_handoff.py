"""Shadow copies handed to the workers through Redis, on the real servers.

A router writes the copies of a few milliseconds as one entry of a Redis stream; the
workers' relays start them. What must hold: those copies go in one call, the stream stays
bounded (in copies and in bytes) and what it refuses is counted, and no copy is lost to a relay that
was killed or could not reach Temporal.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import redis
from prometheus_client import REGISTRY
from temporalio.client import Client

from backends.temporal import TemporalBackend
from queue_router import Job, JobOptions, QueueRouter, Receipt
from queue_router.connections.redis_client import async_client
from queue_router.contract import EnqueueRequest
from queue_router.evidence.ledger import Evidence
from queue_router.shadow import handoff as shadow_handoff
from queue_router.shadow.handoff import (
    BYTES_KEY,
    COPIES_KEY,
    INTENTS_KEY,
    RELAY_GROUP,
    ShadowHandoff,
)
from queue_router.shadow.intents import IntentEncoder
from queue_router.testing.devservers import free_port
from tests.conftest import worker_env
from tests.counts import Counts
from tests.relay import (
    copies_waiting,
    relay_for,
    relay_once,
    running,
    until,
    until_relayed,
    url_of,
)
from workflows.envelope import workflow_id

pytestmark = pytest.mark.integration


def copies(task_queue: str, count: int) -> list[EnqueueRequest]:
    """``count`` new jobs to shadow (ids unique in the run: one Temporal server)."""
    run = uuid.uuid4().hex[:8]
    return [copy(task_queue, f"{run}-{i}", {"i": i}) for i in range(count)]


def big_copies(task_queue: str, count: int, size: int) -> list[EnqueueRequest]:
    """``count`` new jobs to shadow whose payloads are ``size`` bytes of JSON and more."""
    run = uuid.uuid4().hex[:8]
    return [copy(task_queue, f"{run}-{i}", {"i": i, "pad": "x" * size}) for i in range(count)]


def copy(task_queue: str, job_id: str, data: dict[str, Any]) -> EnqueueRequest:
    return EnqueueRequest(
        queue="email-send", job_id=job_id, job_name="__default__", data=data,
        data_json=json.dumps(data), options=JobOptions(), timestamp_ms=1,
        workflow_type="sendEmail", task_queue=task_queue, rq_function="f",
    )  # fmt: skip


def as_copy(request: EnqueueRequest) -> EnqueueRequest:
    """The shadow copy a relay starts for ``request``."""
    return replace(request, shadow=True, compare_within_s=5)


def handoff_on(
    redis_db: redis.Redis,
    *,
    max_waiting: int = 1000,
    backlog_max: int = 10_000,
    max_waiting_bytes: int = 10**9,
    backlog_max_bytes: int = 10**9,
    evidence: Evidence | None = None,
) -> ShadowHandoff:
    """A router's handoff on the test's Redis."""
    client = async_client(url_of(redis_db), 5.0, decode_responses=True)
    return ShadowHandoff(
        client, max_waiting=max_waiting, backlog_max=backlog_max,
        max_waiting_bytes=max_waiting_bytes, backlog_max_bytes=backlog_max_bytes,
        evidence=evidence,
    )  # fmt: skip


async def hand_off(redis_db: redis.Redis, requests: list[EnqueueRequest], **options: int) -> int:
    """Submit every copy in one loop turn, as a router's burst would; how many were taken."""
    evidence = Evidence(async_client(url_of(redis_db), 5.0, decode_responses=True))
    bounds = {"max_waiting": 1000, "backlog_max": 1000, **options}
    handoff = handoff_on(redis_db, **bounds, evidence=evidence)
    taken = sum(handoff.submit(request, 5, TemporalBackend()) for request in requests)
    await handoff.drain(5.0)
    await handoff.aclose()
    await evidence.aclose()
    return taken


def script_calls(redis_db: redis.Redis) -> int:
    """Calls of the handoff script so far: it is the only caller of ``XLEN`` here."""
    return int(redis_db.info("commandstats").get("cmdstat_xlen", {}).get("calls", 0))


def dropped_in_evidence(redis_db: redis.Redis) -> int:
    entries: Any = redis_db.xrange("queue-router:shadow:email-send")
    return sum(int(f["count"]) for _, f in entries if f["result"] == "dropped")


def pending(redis_db: redis.Redis) -> int:
    """Entries read by a relay and not yet answered (0 before any relay joined)."""
    try:
        return int(redis_db.xpending(INTENTS_KEY, RELAY_GROUP)["pending"])
    except redis.ResponseError:  # no group yet
        return 0


async def started(client: Client, request: EnqueueRequest) -> str:
    """The run id of the copy's shadow workflow (fails when there is none)."""
    wf_id = workflow_id(request.queue, request.job_id, shadow=True)
    return (await client.get_workflow_handle(wf_id).describe()).run_id


async def test_a_turns_copies_go_in_one_call_and_past_the_bound_are_counted(
    redis_db: redis.Redis, task_queue: str
) -> None:
    counts = Counts()
    before = script_calls(redis_db)
    taken = await hand_off(redis_db, copies(task_queue, 50))
    assert taken == 50 and script_calls(redis_db) - before == 1
    entries: Any = redis_db.xrange(INTENTS_KEY)
    [(_, fields)] = entries  # one entry of 50, their shared part once
    assert (
        fields["n"] == "50" and [line[0] for line in fields["c"].split("\n")] == ["{"] + ["["] * 50
    )
    assert redis_db.get(COPIES_KEY) == "50"
    taken = await hand_off(redis_db, copies(task_queue, 30), backlog_max=60)
    assert taken == 30  # taken by the router; the stream's bound refuses 20 of them
    assert copies_waiting(redis_db) == 60 and redis_db.get(COPIES_KEY) == "60"
    assert counts("queue_router_shadow_total", queue="email-send", result="handed_off") == 60
    assert counts("queue_router_shadow_total", queue="email-send", result="dropped") == 20
    assert dropped_in_evidence(redis_db) == 20  # what shadow-report shows
    before = script_calls(redis_db)
    taken = await hand_off(redis_db, copies(task_queue, 1200), max_waiting=2000, backlog_max=10_000)
    assert taken == 1200 and script_calls(redis_db) - before == 3  # 500 a call at most
    assert copies_waiting(redis_db) == 1260 and redis_db.get(COPIES_KEY) == "1260"


async def test_copies_of_calls_one_after_another_wait_for_each_other(
    redis_db: redis.Redis, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller that enqueues one job after another submits a copy a call; written at
    once, each copy was a script call of its own (about 20 µs more of the caller's CPU a
    call). They wait ``_GATHER_S`` for each other, and a write that began gathers again:
    the copies that came while it was under way do not go one by one after it."""
    monkeypatch.setattr(shadow_handoff, "_GATHER_S", 0.3)
    handoff = handoff_on(redis_db)
    loop = asyncio.get_running_loop()
    began: list[float] = []
    add = handoff._add

    async def slow_add(copies: list[tuple[bytes, bytes]]) -> tuple[int, int, int]:
        began.append(loop.time())
        await asyncio.sleep(0.05)  # a write under way while the caller goes on
        return await add(copies)

    handoff._add = slow_add  # type: ignore[method-assign]
    for request in copies(task_queue, 200):  # one call after another, ~0.4 s
        assert handoff.submit(request, 5, TemporalBackend())
        await asyncio.sleep(0.002)
    await asyncio.wait_for(until(lambda: copies_waiting(redis_db) == 200), 10)
    await handoff.drain(5.0)
    await handoff.aclose()
    gaps = [after - before for before, after in itertools.pairwise(began)]
    assert len(began) >= 2 and all(gap >= 0.3 for gap in gaps), (len(began), gaps)


async def test_the_callers_call_only_queues_its_copy_the_writer_encodes_it(
    redis_db: redis.Redis, task_queue: str
) -> None:
    """Encoding a copy in ``submit`` put it on the caller's path, once per call; the
    writer encodes a batch while the caller waits on its own writes."""
    handoff = handoff_on(redis_db)
    encode, encoded = handoff._encode, 0

    def counting(request: EnqueueRequest, within_s: int) -> tuple[bytes, bytes]:
        nonlocal encoded
        encoded += 1
        return encode(request, within_s)

    handoff._encode = counting  # type: ignore[assignment]
    for request in copies(task_queue, 20):
        assert handoff.submit(request, 5, TemporalBackend())
    assert encoded == 0
    await asyncio.wait_for(until(lambda: copies_waiting(redis_db) == 20), 10)
    await handoff.drain(5.0)
    await handoff.aclose()
    assert encoded == 20


async def test_a_full_entry_or_the_router_closing_does_not_wait_to_gather(
    redis_db: redis.Redis, task_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shadow_handoff, "_GATHER_S", 60.0)
    handoff = handoff_on(redis_db)
    for request in copies(task_queue, 500):  # a full entry: written at once
        assert handoff.submit(request, 5, TemporalBackend())
    await asyncio.wait_for(until(lambda: copies_waiting(redis_db) == 500), 10)
    for request in copies(task_queue, 3):
        assert handoff.submit(request, 5, TemporalBackend())
    await handoff.drain(5.0)  # had it waited to gather, these 3 would be dropped at 5 s
    await handoff.aclose()
    assert copies_waiting(redis_db) == 503 and dropped_in_evidence(redis_db) == 0


async def test_past_max_waiting_the_router_drops_before_redis(
    redis_db: redis.Redis, task_queue: str
) -> None:
    taken = await hand_off(redis_db, copies(task_queue, 10), max_waiting=4)
    assert taken == 4
    assert copies_waiting(redis_db) == 4
    assert dropped_in_evidence(redis_db) == 6


async def test_past_max_waiting_bytes_the_router_drops_before_redis(
    redis_db: redis.Redis, task_queue: str
) -> None:
    """Bounded in copies alone, a router waiting on a slow Redis could hold 10,000 jobs'
    data of up to 2 MB each."""
    taken = await hand_off(redis_db, big_copies(task_queue, 10, 10_000), max_waiting_bytes=45_000)
    assert taken == 4  # 10,020 bytes of JSON each: the fifth would pass 45,000
    assert copies_waiting(redis_db) == 4
    assert dropped_in_evidence(redis_db) == 6


async def test_copies_being_written_count_toward_max_waiting_bytes(
    redis_db: redis.Redis, task_queue: str
) -> None:
    """A batch whose write is under way (Redis slow) is still held: up to 500 copies."""
    handoff = handoff_on(redis_db, max_waiting_bytes=45_000)
    add, writing = handoff._add, asyncio.Event()

    async def slow_add(copies: list[tuple[bytes, bytes]]) -> tuple[int, int, int]:
        writing.set()
        await asyncio.sleep(0.3)
        return await add(copies)

    handoff._add = slow_add  # type: ignore[method-assign]
    first, later = big_copies(task_queue, 5, 10_000)[:4], big_copies(task_queue, 1, 10_000)
    assert all(handoff.submit(request, 5, TemporalBackend()) for request in first)
    await asyncio.wait_for(writing.wait(), 5)
    assert not handoff.submit(later[0], 5, TemporalBackend())  # 4 in the write, 10,020 more
    await handoff.drain(5.0)
    await handoff.aclose()
    assert copies_waiting(redis_db) == 4


def bytes_in_stream(redis_db: redis.Redis) -> int:
    """The bytes of copies the stream holds, entry by entry (its ``c`` fields)."""
    entries: Any = redis_db.xrange(INTENTS_KEY)
    return sum(len(fields["c"].encode()) for _, fields in entries)


async def test_the_stream_is_bounded_in_bytes_and_its_count_follows_the_relay(
    redis_db: redis.Redis, temporal_client: Client, task_queue: str
) -> None:
    """Bounded in copies alone, the stream could hold 100,000 copies of 2 MB payloads
    and fill the Redis whose real jobs it holds too (refused once it is full). Past the
    byte bound new copies are dropped and counted; what fits of a batch still goes."""
    taken = await hand_off(redis_db, big_copies(task_queue, 10, 10_000), backlog_max_bytes=35_000)
    assert taken == 10  # taken by the router; the stream's byte bound refuses 7 of them
    assert copies_waiting(redis_db) == 3 and dropped_in_evidence(redis_db) == 7
    held = bytes_in_stream(redis_db)
    assert 30_000 < held <= 35_000 and redis_db.get(BYTES_KEY) == str(held)
    assert await hand_off(redis_db, copies(task_queue, 1), backlog_max_bytes=35_000) == 1
    assert copies_waiting(redis_db) == 4 and redis_db.get(BYTES_KEY) == str(
        bytes_in_stream(redis_db)
    )
    entries: Any = redis_db.xrange(INTENTS_KEY)
    [_, (small, fields)] = entries
    redis_db.xgroup_create(INTENTS_KEY, RELAY_GROUP, id="0")
    relay = relay_for(temporal_client, redis_db)
    await relay._entry(small, fields)  # started, so deleted: the count loses its bytes
    await relay.aclose()
    assert redis_db.get(BYTES_KEY) == str(held) == str(bytes_in_stream(redis_db))
    await relay_once(temporal_client, redis_db)  # the rest
    assert (redis_db.get(BYTES_KEY), redis_db.get(COPIES_KEY)) == ("0", "0")
    await hand_off(redis_db, big_copies(task_queue, 3, 10_000), backlog_max_bytes=35_000)
    assert copies_waiting(redis_db) == 3 and dropped_in_evidence(redis_db) == 7


async def test_copies_a_killed_relay_held_are_started_once_by_another(
    redis_db: redis.Redis, temporal_client: Client, task_queue: str
) -> None:
    counts = Counts()
    requests = copies(task_queue, 20)
    await hand_off(redis_db, requests)
    # A relay that read all 20 and started 5 before it was killed: all 20 stay pending.
    redis_db.xgroup_create(INTENTS_KEY, RELAY_GROUP, id="0")
    read: Any = redis_db.xreadgroup(RELAY_GROUP, "killed", {INTENTS_KEY: ">"})
    [[_, [(_, fields)]]] = read
    assert fields["n"] == "20"
    backend = TemporalBackend(client=temporal_client)
    first_runs = [(await backend.enqueue(as_copy(r))).run_id for r in requests[:5]]
    async with running(relay_for(temporal_client, redis_db, retry_s=0.5)), asyncio.timeout(30):
        await until_relayed(redis_db)
    assert [await started(temporal_client, r) for r in requests[:5]] == first_runs
    assert all([await started(temporal_client, r) for r in requests[5:]])
    assert counts("queue_router_shadow_total", queue="email-send", result="ok") == 20
    assert pending(redis_db) == 0
    assert redis_db.get(COPIES_KEY) == "0"


async def test_the_count_of_waiting_copies_loses_only_the_entries_relayed(
    redis_db: redis.Redis, temporal_client: Client, task_queue: str
) -> None:
    """The bound is in copies: relaying one entry of 7 leaves the 10 a killed relay holds."""
    await hand_off(redis_db, copies(task_queue, 10))
    redis_db.xgroup_create(INTENTS_KEY, RELAY_GROUP, id="0")
    redis_db.xreadgroup(RELAY_GROUP, "killed", {INTENTS_KEY: ">"})  # holds the 10
    await hand_off(redis_db, copies(task_queue, 7))
    assert redis_db.get(COPIES_KEY) == "17"
    async with running(relay_for(temporal_client, redis_db, retry_s=60)), asyncio.timeout(30):
        await until(lambda: redis_db.xlen(INTENTS_KEY) == 1)
    assert redis_db.get(COPIES_KEY) == "10"


async def test_copies_stay_in_redis_while_temporal_is_unreachable(
    redis_db: redis.Redis, temporal_client: Client, task_queue: str
) -> None:
    requests = copies(task_queue, 10)
    await hand_off(redis_db, requests)
    unreachable = TemporalBackend(f"127.0.0.1:{free_port()}", rpc_timeout_s=0.3, retry_s=0.2)
    async with running(relay_for(temporal_client, redis_db, unreachable)):
        async with asyncio.timeout(30):
            await until(lambda: pending(redis_db) == 1)
        await asyncio.sleep(1.0)  # its starts fail; it must not acknowledge them
    assert copies_waiting(redis_db) == 10
    assert pending(redis_db) == 1
    assert REGISTRY.get_sample_value("queue_router_shadow_backlog") == 10  # what it reported
    held = REGISTRY.get_sample_value("queue_router_shadow_backlog_bytes")
    assert held == bytes_in_stream(redis_db) > 0
    async with running(relay_for(temporal_client, redis_db, retry_s=0.5)), asyncio.timeout(30):
        await until_relayed(redis_db)
    assert all([await started(temporal_client, r) for r in requests])


async def test_an_idle_relay_creates_nothing_and_skips_what_it_cannot_read(
    redis_db: redis.Redis, temporal_client: Client, task_queue: str
) -> None:
    async with running(relay_for(temporal_client, redis_db)):
        await asyncio.sleep(0.6)
        assert redis_db.keys("*") == []  # no router handed off anything: no stream, no group
        redis_db.xadd(INTENTS_KEY, {"i": "not an entry"})
        one, two = copies(task_queue, 2)
        shared, own = IntentEncoder()(one, 5)
        lines = f"{shared.decode()}\n[not json\n{own.decode()}"  # one bad copy of two
        redis_db.xadd(INTENTS_KEY, {"n": "2", "c": lines})
        await hand_off(redis_db, [two])
        async with asyncio.timeout(30):
            await until_relayed(redis_db)
    assert await started(temporal_client, one)
    assert await started(temporal_client, two)


async def test_a_worker_killed_mid_relay_leaves_its_copies_to_the_next_one(
    make_router: Callable[..., Any], redis_db: redis.Redis, temporal_client: Client,
    spawn_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:  # fmt: skip
    """Real ``queue-router worker`` processes: the first is SIGKILLed while it relays."""
    queues = {"calc": {"mode": "shadow", "legacy": "bull", "workflow_type": "calcJob",
                       "compare_within_s": 5}}  # fmt: skip
    router: QueueRouter = await make_router(queues=queues)
    run = uuid.uuid4().hex[:8]
    jobs = [Job({"n": i}, job_id=f"{run}-{i}") for i in range(300)]
    receipts = await router.enqueue_many("calc", jobs)
    assert all(isinstance(r, Receipt) and r.shadow_started for r in receipts)
    await router.aclose()
    assert copies_waiting(redis_db) == 300
    env = worker_env(router.settings, QUEUE_ROUTER_SHADOW_RETRY_MS="1000",
                     QUEUE_ROUTER_QUEUES=json.dumps(queues))  # fmt: skip
    first = spawn_worker(["worker"], env)
    async with asyncio.timeout(60):  # it has read a batch and is starting it
        await until(lambda: pending(redis_db) > 0)
    first.kill()
    first.wait()
    assert pending(redis_db) > 0  # read by the killed worker, never answered
    spawn_worker(["worker"], env)
    async with asyncio.timeout(90):
        await until_relayed(redis_db)
    assert pending(redis_db) == 0
    for job in jobs:
        handle = temporal_client.get_workflow_handle(f"shadow/calc/{job.job_id}")
        assert (await (await handle.describe()).memo())["shadow"] is True
