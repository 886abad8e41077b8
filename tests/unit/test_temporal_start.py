"""The workflow start the Temporal backend builds, without a server."""

from __future__ import annotations

from dataclasses import dataclass

from temporalio.converter import DataConverter

from backends.temporal import _start_request
from queue_router import JobOptions, QueueRouter, Settings
from queue_router.testing import MemoryBackend
from workflows import JobEnvelope


@dataclass
class _Client:
    """What ``_start_request`` reads of a client."""

    namespace: str = "default"
    identity: str = "test"
    data_converter: DataConverter = DataConverter.default


async def test_the_input_is_the_envelope_exactly_as_the_converter_encodes_it() -> None:
    """The envelope is handed over as its fields; a worker must still read the very bytes
    a ``JobEnvelope`` encodes to (nested data, non-ASCII text, options, key order)."""
    settings = Settings.from_env(queues={"q": {"mode": "temporal", "workflow_type": "w"}})
    backends = {name: MemoryBackend(name) for name in ("bull", "temporal", "rq", "list")}
    router = QueueRouter(settings, backends=backends)  # type: ignore[arg-type]
    data = {"b": [1, {"z": 2, "a": None}], "a": "ünï"}
    _, _, request = router._resolve("q", data, None, "job-1", None, JobOptions(attempts=3))
    start = await _start_request(_Client(), request, "q/job-1")  # type: ignore[arg-type]
    envelope = JobEnvelope(
        queue="q", job_id="job-1", name=request.job_name, data=data,
        options=request.options.to_bull(), shadow=False,
        enqueued_at_ms=request.timestamp_ms, compare_within_s=request.compare_within_s,
    )  # fmt: skip
    [expected] = await DataConverter.default.encode([envelope])
    assert list(start.input.payloads) == [expected]
    [decoded] = await DataConverter.default.decode(list(start.input.payloads), [JobEnvelope])
    assert decoded == envelope
