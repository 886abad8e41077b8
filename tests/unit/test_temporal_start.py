"""The workflow start the Temporal backend builds, without a server."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from temporalio.api.common.v1 import Payload
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

from backends.temporal import _start_request
from queue_router import JobOptions, QueueRouter, Settings
from queue_router.contract import EnqueueRequest
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


class _Codec(PayloadCodec):
    """Stands for an encrypting codec: its output is never reused."""

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


def _request(job_id: str, *, shadow: bool = False) -> EnqueueRequest:
    settings = Settings.from_env(queues={"q": {"mode": "temporal", "workflow_type": "w"}})
    backends = {name: MemoryBackend(name) for name in ("bull", "temporal", "rq", "list")}
    router = QueueRouter(settings, backends=backends)  # type: ignore[arg-type]
    _, _, request = router._resolve("q", {"n": 1}, None, job_id, None, None)
    return replace(request, shadow=shadow)


async def _memo(client: _Client, request: EnqueueRequest, cache: dict[Any, Any]) -> dict[str, Any]:
    start = await _start_request(client, request, f"q/{request.job_id}", cache)  # type: ignore[arg-type]
    fields = dict(start.memo.fields)
    decoded = await client.data_converter.decode(list(fields.values()))
    return dict(zip(fields, decoded, strict=True))


async def test_the_memo_is_the_same_whether_its_fixed_values_come_from_the_cache() -> None:
    cache: dict[Any, Any] = {}
    expected = {"queue": "q", "job_id": "m-1", "shadow": False}
    assert await _memo(_Client(), _request("m-1"), cache) == expected  # encodes, keeps
    assert set(cache) == {("queue", "q"), ("shadow", False)}
    assert await _memo(_Client(), _request("m-2"), cache) == {**expected, "job_id": "m-2"}
    shadowed = await _memo(_Client(), _request("m-3", shadow=True), cache)
    assert shadowed == {**expected, "job_id": "m-3", "shadow": True}  # not the cached False


async def test_a_codec_a_context_aware_converter_or_external_storage_is_used_every_start() -> None:
    with_codec = _Client(data_converter=replace(DataConverter.default, payload_codec=_Codec()))
    cache: dict[Any, Any] = {}
    await _memo(with_codec, _request("c-1"), cache)
    assert cache == {}
    context_aware = DataConverter(payload_converter_class=_ContextAware)
    await _memo(_Client(data_converter=context_aware), _request("c-2"), cache)
    assert cache == {}
    stored = replace(DataConverter.default, external_storage=ExternalStorage(drivers=[_Driver()]))
    await _memo(_Client(data_converter=stored), _request("c-3"), cache)
    assert cache == {}


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
