"""The single-job command Bull's backend sends: its fixed part is packed once per queue.

The packed head and one job's arguments, joined, must be byte for byte the command that
packing the whole call would give (a wrong argument count would make Redis read the
next command as part of this one).
"""

from __future__ import annotations

import pytest

from backends.bull import BullBackend
from queue_router.contract import EnqueueRequest
from queue_router.one_connection import pack
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
