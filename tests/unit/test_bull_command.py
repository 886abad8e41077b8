"""The single-job command Bull's backend sends: its fixed part is packed once per queue.

The packed head and one job's arguments, joined, must be byte for byte the command that
packing the whole call would give (a wrong argument count would make Redis read the
next command as part of this one).
"""

from __future__ import annotations

import json

import pytest

from backends.bull import BullBackend, _options_json
from queue_router.connections.one_connection import pack
from queue_router.contract import EnqueueRequest
from queue_router.receipts import JobOptions


@pytest.mark.parametrize("prefix", ["bull", "{tenant-7}"])
def test_a_single_job_command_is_the_whole_call_packed(prefix: str) -> None:
    backend = BullBackend("redis://127.0.0.1:1/0", prefix=prefix)  # never connects here
    request = EnqueueRequest(
        queue="email-send", job_id="j" * 128, job_name="send", data={"to": "ü"},
        data_json='{"to":"ü"}', options=JobOptions(attempts=3, delay_ms=1500, priority=2),
        timestamp_ms=1_795_762_439_951, workflow_type="w", task_queue="t", rq_function="f",
    )  # fmt: skip
    args = backend._job_args(request)
    head = backend._head("email-send")
    whole = pack("EVALSHA", backend._script.sha, *head, *args)
    assert backend._packed_head("email-send") + pack(*args)[len(b"*8\r\n") :] == whole
    assert backend._packed_head("email-send") is backend._packed_head("email-send")


def test_option_json_follows_each_options_object_past_the_cache_bound() -> None:
    """Cached by identity first: equal objects give equal JSON, different ones their own,
    and a queue's defaults stay right after many options made per call."""
    defaults = JobOptions(attempts=3)
    first = _options_json(defaults)
    assert json.loads(first) == defaults.to_bull()
    assert _options_json(JobOptions(attempts=3)) == first  # equal, another object
    for delay in range(600):  # options made per call, past the bound
        assert json.loads(_options_json(JobOptions(delay_ms=delay)))["delay"] == delay
    assert _options_json(defaults) == first
    assert json.loads(_options_json(JobOptions(attempts=4)))["attempts"] == 4
