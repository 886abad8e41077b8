"""The workflow start the Temporal backend builds, without a server."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy, WorkflowIdReusePolicy
from temporalio.api.workflowservice.v1 import (
    StartWorkflowExecutionRequest,
    StartWorkflowExecutionResponse,
)
from temporalio.converter import (
    DataConverter,
    DefaultPayloadConverter,
    ExternalStorage,
    PayloadCodec,
    SerializationContext,
    StorageDriver,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    WithSerializationContext,
)

from backends._temporal_start import start_request, writes_json_as_we_do
from backends.temporal import TemporalBackend
from queue_router import JobOptions, QueueRouter, Settings
from queue_router.contract import EnqueueRequest
from queue_router.errors import BackendUnavailable
from queue_router.testing import MemoryBackend
from workflows import JobEnvelope


@dataclass
class _Service:
    """Takes starts and answers as a server would, keeping what it was sent."""

    sent: list[StartWorkflowExecutionRequest] = field(default_factory=list)

    async def start_workflow_execution(
        self, start: StartWorkflowExecutionRequest, **_: Any
    ) -> StartWorkflowExecutionResponse:
        self.sent.append(start)
        return StartWorkflowExecutionResponse(run_id="run-1", started=True)


@dataclass
class _Client:
    """What the backend reads of a client."""

    namespace: str = "default"
    identity: str = "test"
    data_converter: DataConverter = DataConverter.default
    workflow_service: _Service = field(default_factory=_Service)


def _request(
    job_id: str, data: Any = None, *, shadow: bool = False, versioning: str | None = None
) -> EnqueueRequest:
    settings = Settings.from_env(queues={"q": {"mode": "temporal", "workflow_type": "w"}})
    backends = {name: MemoryBackend(name) for name in ("bull", "temporal", "rq", "list")}
    router = QueueRouter(settings, backends=backends)
    data = {"n": 1} if data is None else data
    _, _, request = router._resolve("q", data, None, job_id, None, JobOptions(attempts=3))
    return replace(request, shadow=shadow, versioning=versioning)


@pytest.mark.parametrize("plain_json", [True, False])
async def test_the_input_is_the_envelope_exactly_as_the_converter_encodes_it(
    plain_json: bool,
) -> None:
    """Written here or by the converter, a worker reads the very bytes a ``JobEnvelope``
    encodes to (nested data, non-ASCII text, options, key order)."""
    data = {"b": [1, {"z": 2, "a": None}], "a": "ünï\u2028", "f": 0.1, "big": 2**70}
    request = _request("job-1", data)
    start = await start_request(_Client(), request, "q/job-1", plain_json=plain_json)  # type: ignore[arg-type]
    envelope = JobEnvelope(
        queue="q", job_id="job-1", name=request.job_name, data=data,
        options=request.options.to_bull(), shadow=False,
        enqueued_at_ms=request.timestamp_ms, compare_within_s=request.compare_within_s,
    )  # fmt: skip
    [expected] = await DataConverter.default.encode([envelope])
    assert list(start.input.payloads) == [expected]
    assert (
        start.workflow_id_reuse_policy
        == WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
    )
    assert (
        start.workflow_id_conflict_policy
        == WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
    )
    [decoded] = await DataConverter.default.decode(list(start.input.payloads), [JobEnvelope])
    assert decoded == envelope


@pytest.mark.parametrize(
    ("request_", "memo"),
    [
        (_request("m-1"), {}),
        (_request("m-2", shadow=True), {"shadow": True}),
        (_request("m-3", versioning="pinned"), {"versioning": "pinned"}),
    ],
)
async def test_the_memo_written_here_is_the_converters_byte_for_byte(
    request_: EnqueueRequest, memo: dict[str, Any]
) -> None:
    """A start's memo says only what its id and input do not: the shadow mark and the
    queue's versioning (the queue and job id cost the dev server 4-7% more CPU a start
    as memo fields, and are in the input and, unless a template drops them, the id)."""
    ours = await start_request(_Client(), request_, "q/x", plain_json=True)  # type: ignore[arg-type]
    theirs = await start_request(_Client(), request_, "q/x", plain_json=False)  # type: ignore[arg-type]
    assert dict(ours.memo.fields) == dict(theirs.memo.fields)
    fields = dict(ours.memo.fields)
    decoded = await DataConverter.default.decode(list(fields.values()))
    assert dict(zip(fields, decoded, strict=True)) == memo


class _Codec(PayloadCodec):
    """Stands for an encrypting codec: marks every payload it encodes."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": b"binary/marked"}, data=p.SerializeToString())
                for p in payloads]  # fmt: skip

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload.FromString(p.data) for p in payloads]


class _Driver(StorageDriver):
    """External storage that small payloads never reach."""

    def name(self) -> str:
        return "never"

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        raise AssertionError("a memo value is far below the size threshold")

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        raise AssertionError("nothing was stored")


class _ContextAware(DefaultPayloadConverter, WithSerializationContext):
    """A payload converter that may encode per workflow (returns a new one per context)."""

    def with_context(self, context: SerializationContext) -> _ContextAware:
        return _ContextAware()


class _Custom(DefaultPayloadConverter):
    """A team's own payload converter (say, another JSON encoder): a subclass."""


def test_only_the_sdks_own_json_is_written_here() -> None:
    assert writes_json_as_we_do(DataConverter.default)
    assert writes_json_as_we_do(DataConverter())
    assert not writes_json_as_we_do(replace(DataConverter.default, payload_codec=_Codec()))
    assert not writes_json_as_we_do(DataConverter(payload_converter_class=_ContextAware))
    assert not writes_json_as_we_do(DataConverter(payload_converter_class=_Custom))
    stored = replace(DataConverter.default, external_storage=ExternalStorage(drivers=[_Driver()]))
    assert not writes_json_as_we_do(stored)


async def test_a_clients_codec_encodes_every_value_the_backend_sends() -> None:
    with_codec = _Client(data_converter=replace(DataConverter.default, payload_codec=_Codec()))
    backend = TemporalBackend(client=with_codec)  # type: ignore[arg-type]
    for job_id in ("c-1", "c-2"):
        await backend.enqueue(_request(job_id, shadow=job_id == "c-2"))  # c-2 has a memo
    plain = _Client()
    await TemporalBackend(client=plain).enqueue(_request("p-1"))  # type: ignore[arg-type]
    assert len(with_codec.workflow_service.sent[1].memo.fields) == 1  # the shadow mark
    for start in with_codec.workflow_service.sent:
        payloads = [*start.input.payloads, *start.memo.fields.values()]
        assert {p.metadata["encoding"] for p in payloads} == {b"binary/marked"}
    [start] = plain.workflow_service.sent
    payloads = [*start.input.payloads, *start.memo.fields.values()]
    assert {p.metadata["encoding"] for p in payloads} == {b"json/plain"}


@pytest.mark.parametrize("plain_json", [True, False])
async def test_keys_json_cannot_sort_reach_temporal_as_the_bull_side_has_them(
    plain_json: bool,
) -> None:
    """The converter sorts keys; a payload mixing key types (``{1: ..., "b": ...}``) is
    valid JSON for Bull (keys become text) but cannot be sorted. The start carries the data
    as Bull has it, never an unexpected error (which the router reports as maybe written)."""
    data = {1: "one", "b": {None: 2, "c": 3}}
    request = _request("mixed-1", data)
    start = await start_request(_Client(), request, "q/mixed-1", plain_json=plain_json)  # type: ignore[arg-type]
    [decoded] = await DataConverter.default.decode(list(start.input.payloads), [JobEnvelope])
    assert decoded.data == json.loads(request.data_json) == {"1": "one", "b": {"null": 2, "c": 3}}


async def test_dual_write_of_such_a_payload_places_both_sides() -> None:
    settings = Settings.from_env(queues={"q": {"mode": "dual", "workflow_type": "w"}})
    bull = MemoryBackend("bull")
    temporal = TemporalBackend(client=_Client())  # type: ignore[arg-type]
    router = QueueRouter(settings, backends={"bull": bull, "temporal": temporal})
    receipt = await router.enqueue("q", {1: "one", "b": 2}, job_id="mixed-2")
    assert receipt.backends == ("bull", "temporal")
    assert receipt.failures == ()


class _CodecDown(PayloadCodec):
    """Stands for a codec whose key service cannot be reached."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        raise RuntimeError("key service unreachable")

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        raise RuntimeError("key service unreachable")


async def test_a_start_the_converter_cannot_encode_was_never_sent_so_it_falls_back() -> None:
    """Nothing reached Temporal: 'not written' (so the legacy queue may take the job),
    never 'outcome unknown', which would refuse the fallback and hold the id in doubt."""
    client = _Client(data_converter=replace(DataConverter.default, payload_codec=_CodecDown()))
    backend = TemporalBackend(client=client)  # type: ignore[arg-type]
    with pytest.raises(BackendUnavailable, match=r"data converter.*key service unreachable"):
        await backend.enqueue(_request("k-1"))
    assert client.workflow_service.sent == []
    settings = Settings.from_env(queues={"q": {"mode": "temporal", "workflow_type": "w"}})
    bull = MemoryBackend("bull")
    router = QueueRouter(settings, backends={"bull": bull, "temporal": backend})
    receipt = await router.enqueue("q", {"n": 1}, job_id="k-2")
    assert (receipt.backends, receipt.fell_back) == (("bull",), True)
    assert ("q", "k-2") in bull.jobs
