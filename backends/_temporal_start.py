"""The workflow start ``TemporalBackend`` sends for one job: its input, memo and policies.

The input is a ``JobEnvelope``. The memo holds what an operator should see without
decoding the input, and the worker must read before the workflow runs: a shadow copy's
mark and the queue's versioning. The queue and job id are not repeated there: they are
in the input and (unless a queue's id template drops them) in the workflow id, and as
memo fields they cost the dev server 4-7% more CPU a start (its process's CPU, measured
beside raw starts in the same rounds).

Input and memo go through the client's data converter. Most clients keep the SDK's
default one, which writes each value as ``json/plain``: compact JSON with sorted keys
and ASCII escapes. For them the payloads are written here, byte for byte as the
converter writes them, from one JSON encoder kept for good (the converter builds a new
one per value, and looks up each value's converter): a start request took 36 µs to
build through the converter, 27 µs with its fixed memo values kept, and takes 12.3 µs
so, of the 0.6-0.7 ms of CPU a start costs the caller's process. Any other converter (a
codec, external storage, a context-aware or custom payload converter) is called as the
SDK would call it.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.api.enums.v1 import WorkflowIdConflictPolicy, WorkflowIdReusePolicy
from temporalio.api.workflowservice.v1 import StartWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.converter import (
    AdvancedJSONEncoder,
    DataConverter,
    DefaultPayloadConverter,
    WorkflowSerializationContext,
)

from queue_router.contract import EnqueueRequest
from queue_router.payload import kept_json_encoder
from workflows.envelope import JobEnvelope

__all__ = ["start_request", "writes_json_as_we_do"]

_as_converter_json = kept_json_encoder(
    default=AdvancedJSONEncoder().default, ensure_ascii=True, sort_keys=True, allow_nan=True
)
"""The text of the SDK's ``JSONPlainPayloadConverter``: ``json.dumps(value,
cls=AdvancedJSONEncoder, separators=(",", ":"), sort_keys=True)``."""

# A repeat of the job id returns the run that exists, running or closed, never a second
# one. Looked up once: an enum member of a protobuf module is a Python ``__getattr__``.
_REJECT_DUPLICATE = WorkflowIdReusePolicy.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE
_USE_EXISTING = WorkflowIdConflictPolicy.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING


def writes_json_as_we_do(converter: DataConverter) -> bool:
    """Whether ``converter`` writes our values (dicts, text, booleans, numbers; never
    ``None`` or bytes, which other encodings take) exactly as ``start_request`` writes them: the
    SDK's default payload converter, itself and not a subclass, with no codec, no external
    storage, and nothing that changes per workflow (its context)."""
    any_workflow = WorkflowSerializationContext(namespace="", workflow_id="")
    return (
        converter.payload_converter_class is DefaultPayloadConverter  # the SDK may wrap it
        and converter.payload_codec is None
        and getattr(converter, "external_storage", None) is None  # SDKs that have it
        and converter.with_context(any_workflow) is converter
    )


def _write_json(payload: Payload, text: str) -> None:
    """``text`` as ``json/plain`` into ``payload`` (a field of the start, written in
    place: 1 µs a value less than a new ``Payload`` copied in)."""
    payload.metadata["encoding"] = b"json/plain"
    payload.data = text.encode()


def _keys_as_text(fields: dict[str, Any], request: EnqueueRequest) -> dict[str, Any]:
    """The envelope's ``fields`` with the data as Bull holds it: its JSON read back, every
    key text. For data whose keys cannot be sorted (``{1: ..., "b": ...}``, valid JSON
    once the keys are text): the converter sorts keys, and would otherwise fail after
    the other side of a dual write has the job."""
    return {**fields, "data": json.loads(request.data_json)}


async def start_request(
    client: Client, request: EnqueueRequest, wf_id: str, *, plain_json: bool
) -> StartWorkflowExecutionRequest:
    """The start, built once per enqueue so every re-send carries the same request id.

    ``plain_json``: the client's converter is one that ``writes_json_as_we_do``.
    """
    envelope = JobEnvelope(
        queue=request.queue,
        job_id=request.job_id,
        name=request.job_name,
        data=request.data,
        options=request.options.to_bull(),
        shadow=request.shadow,
        enqueued_at_ms=request.timestamp_ms,
        compare_within_s=request.compare_within_s,
    )
    start = StartWorkflowExecutionRequest(
        namespace=client.namespace,
        workflow_id=wf_id,
        identity=client.identity,
        request_id=str(uuid.uuid4()),
        workflow_id_reuse_policy=_REJECT_DUPLICATE,
        workflow_id_conflict_policy=_USE_EXISTING,
    )
    start.workflow_type.name = request.workflow_type
    start.task_queue.name = request.task_queue
    memo: dict[str, Any] = {}
    if request.shadow:  # for operators: the copy whose activities keep their side effects
        memo["shadow"] = True
    if request.versioning is not None:  # read by the job workflow's dynamic config
        memo["versioning"] = request.versioning
    # The envelope goes as its fields (``vars``): the same JSON, without the deep copy of
    # ``data`` that the converter's ``dataclasses.asdict`` makes (28 -> 9 µs a start).
    fields = vars(envelope)
    if plain_json:
        try:
            envelope_json = _as_converter_json(fields)
        except TypeError:
            envelope_json = _as_converter_json(_keys_as_text(fields, request))
        _write_json(start.input.payloads.add(), envelope_json)
        for key, value in memo.items():
            _write_json(start.memo.fields[key], _as_converter_json(value))
    else:  # the input and the memo in one call of the converter (and of its codec)
        context = WorkflowSerializationContext(namespace=client.namespace, workflow_id=wf_id)
        converter = client.data_converter.with_context(context)
        try:
            envelope_payload, *encoded = await converter.encode([fields, *memo.values()])
        except TypeError:
            fields = _keys_as_text(fields, request)
            envelope_payload, *encoded = await converter.encode([fields, *memo.values()])
        start.input.payloads.append(envelope_payload)
        for key, payload in zip(memo, encoded, strict=True):
            start.memo.fields[key].CopyFrom(payload)
    if request.options.delay_ms:  # Bull's ``delay`` becomes Temporal's ``start_delay``
        start.workflow_start_delay.FromTimedelta(timedelta(milliseconds=request.options.delay_ms))
    return start
