"""A shadow copy's record, and a handoff whose Redis is gone: no server needed."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from backends.temporal import TemporalBackend
from queue_router import Backoff, JobOptions
from queue_router.connections.redis_client import async_client
from queue_router.contract import EnqueueRequest
from queue_router.shadow.handoff import ShadowHandoff
from queue_router.shadow.intents import (
    IntentEncoder,
    decode_intent,
    entry_copies,
    entry_lines,
    lines_within,
)
from queue_router.testing.devservers import free_port
from tests.counts import Counts


def shadow_copy() -> EnqueueRequest:
    data = {"to": "ü@b.c", "n": [1, {"deep": None}]}
    return EnqueueRequest(
        queue="q", job_id="j-1", job_name="send", data=data, data_json=json.dumps(data),
        options=JobOptions(attempts=3, delay_ms=10, backoff=Backoff("exponential", 100)),
        timestamp_ms=5, workflow_type="w",
        task_queue="tq", rq_function="f",
        versioning="pinned", workflow_id="q/custom-j-1", list_key="q-list", list_envelope=True,
    )  # fmt: skip


def test_a_copy_reads_back_as_the_request_marked_as_a_shadow() -> None:
    request = shadow_copy()
    expected = replace(request, shadow=True, compare_within_s=30)
    assert decode_intent(*IntentEncoder()(request, 30)) == expected


def test_lines_within_counts_the_copies_entry_lines_writes_in_a_size() -> None:
    """Counted without writing them; the same bytes as written, shared parts included."""
    encode = IntentEncoder()
    first, second = shadow_copy(), replace(shadow_copy(), options=JobOptions(attempts=9))
    copies = [encode(replace(request, job_id=f"j-{i}"), 30)
              for i, request in enumerate([first, first, second, second, first])]  # fmt: skip
    for count in range(len(copies) + 1):
        size = len(entry_lines(copies[:count]))
        assert lines_within(copies, size) == count
        if count:
            assert lines_within(copies, size - 1) == count - 1


def test_a_queue_s_shared_part_is_encoded_again_when_a_job_differs_in_it() -> None:
    """The part a queue's copies share is kept per queue: a job with its own options (or
    a changed compare window) must not travel with the first job's."""
    encode, first = IntentEncoder(), shadow_copy()
    own_options = replace(first, job_id="j-2", options=JobOptions(attempts=9, priority=4))
    renamed = replace(first, job_id="j-3", job_name="other", workflow_type="w2")
    for request, within_s in [(first, 30), (own_options, 30), (renamed, 30), (first, 45)]:
        expected = replace(request, shadow=True, compare_within_s=within_s)
        assert decode_intent(*encode(request, within_s)) == expected


def test_an_entry_carries_each_shared_part_where_it_changes_and_reads_back_in_order() -> None:
    encode, first = IntentEncoder(), shadow_copy()
    other_queue = replace(first, queue="q2", job_id="j-2")
    requests = [first, replace(first, job_id="j-3"), other_queue, replace(first, job_id="j-4")]
    lines = entry_lines(encode(request, 30) for request in requests).decode()
    assert [line[0] for line in lines.split("\n")] == ["{", "[", "[", "{", "[", "{", "["]
    copies = entry_copies({"n": "4", "c": lines})
    assert [decode_intent(*copy) for copy in copies] == [
        replace(request, shadow=True, compare_within_s=30) for request in requests
    ]


@pytest.mark.parametrize(
    "fields",
    [{}, {"n": "x", "c": "{}"}, {"n": "1", "c": "[1]"}, {"n": "2", "c": '{}\n["a"]'}],
)
def test_what_is_not_an_entry_of_copies_is_a_value_error(fields: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        entry_copies(fields)


@pytest.mark.parametrize(
    ("shared", "own"),
    [("not json", "[]"), ("{}", "not json"), ("{}", '["j", "{}", 1, ""]'), ("[1]", "[1]"),
     ('{"queue": "q"}', "[1, 2]"), ("3", '["j", "{}", 1, ""]'), ("{}", "7")],
)  # fmt: skip
def test_what_is_not_a_copy_is_a_value_error(shared: str, own: str) -> None:
    with pytest.raises(ValueError):
        decode_intent(shared, own)


async def test_copies_redis_never_took_are_counted_as_dropped_and_nothing_raises() -> None:
    counts = Counts()
    client = async_client(f"redis://127.0.0.1:{free_port()}", 1.0, decode_responses=True)
    handoff = ShadowHandoff(
        client, max_waiting=10, max_waiting_bytes=10**6, backlog_max=10, backlog_max_bytes=10**6
    )
    assert handoff.submit(shadow_copy(), 30, TemporalBackend())
    assert handoff.submit(shadow_copy(), 30, TemporalBackend())
    await handoff.drain(5.0)
    await handoff.aclose()
    assert counts("queue_router_shadow_total", queue="q", result="dropped") == 2
    assert counts("queue_router_shadow_total", queue="q", result="handed_off") == 0


async def test_copies_a_closing_router_could_not_hand_off_in_time_are_counted() -> None:
    """A Redis that accepts and never answers: the close's grace ends mid-write."""
    counts = Counts()
    accepted: list[asyncio.StreamWriter] = []
    silent = await asyncio.start_server(lambda _, w: accepted.append(w), "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    client = async_client(f"redis://127.0.0.1:{port}", 30.0, decode_responses=True)
    handoff = ShadowHandoff(
        client, max_waiting=10, max_waiting_bytes=10**6, backlog_max=10, backlog_max_bytes=10**6
    )
    assert handoff.submit(shadow_copy(), 30, TemporalBackend())
    await asyncio.sleep(0.1)  # the write is under way
    assert handoff.submit(shadow_copy(), 30, TemporalBackend())  # waits behind it
    await handoff.drain(0.2)
    await handoff.aclose()
    for writer in accepted:
        writer.close()
    silent.close()
    await silent.wait_closed()
    assert counts("queue_router_shadow_total", queue="q", result="dropped") == 2
