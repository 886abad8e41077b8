"""The one backend contract: ``async enqueue(request) -> Placement``.

A backend knows how to put one job into one system (Bull, RQ, Temporal, memory). It
knows nothing about routing, percentages or fallback: the router decides and then
calls one or two backends. Each backend translates its client's errors into the
three outcomes of the reliability contract:

- return a ``Placement``: the job is there (``existing=True`` if it already was);
- raise a ``NotEnqueuedError`` (``BackendUnavailable``, ``CredentialsRejected``): the
  job is definitely not there;
- raise ``EnqueueOutcomeUnknown``: it may be; a retry with the same job id is safe.

This module is a leaf: it imports only ``receipts``, ``errors`` and ``frozen`` (leaves
themselves), so ``backends`` import it without pulling in the router, and the router
never imports a backend.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from types import TracebackType
from typing import Any, Self

from queue_router.errors import EnqueueOutcomeUnknown, QueueRouterError
from queue_router.frozen import slot_setters
from queue_router.receipts import Backoff, JobOptions, Placement

__all__ = ["AsyncLifecycle", "Backend", "EnqueueRequest", "resolved_request"]


class AsyncLifecycle:
    """Mixin: ``async with x:`` calls ``await x.startup()`` and, on exit, ``await x.aclose()``."""

    async def startup(self) -> None:
        """Acquire resources; a no-op unless overridden."""

    async def aclose(self) -> None:
        """Release resources; a no-op unless overridden."""

    async def __aenter__(self) -> Self:
        await self.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


@dataclass(frozen=True, slots=True, kw_only=True)
class EnqueueRequest:
    """One job, fully resolved by the router: ids chosen, options merged, data encoded.

    ``data_json`` is the payload already serialized once (and size-checked), so every
    backend stores exactly the same bytes. ``workflow_type``/``task_queue`` serve
    Temporal, ``rq_function``/``job_name`` the legacy queues; a backend ignores the rest.
    """

    queue: str
    job_id: str
    job_name: str
    data: Any
    data_json: str
    options: JobOptions
    timestamp_ms: int
    workflow_type: str
    task_queue: str
    rq_function: str
    shadow: bool = False
    compare_within_s: int = 0
    """A shadow copy waits this long for the legacy job's outcome to compare with."""
    versioning: str | None = None
    """``pinned`` or ``auto_upgrade`` for the job workflow on a versioned worker."""
    list_key: str = ""
    """The list backend's Redis list (empty: the queue's name)."""
    workflow_id: str = ""
    """The Temporal workflow id (empty: ``<queue>/<job_id>``); shadow copies prefix it."""
    list_envelope: bool = False
    """The list backend pushes ``{"job_id", "queue", "data", "options"}``, not the data."""

    def to_record(self) -> dict[str, Any]:
        """JSON-ready, to write this very job again later (``reconcile``, a handed-off
        shadow copy). Field by field: ``asdict`` would deep-copy ``data`` only to drop it
        (``data_json`` holds it, byte for byte) and walk every option, ten times the cost."""
        record = {name: getattr(self, name) for name in _RECORD_FIELDS}
        options = self.options
        record["options"] = opts = {name: getattr(options, name) for name in _OPTION_FIELDS}
        if options.backoff is not None:  # the one field that is not a scalar
            opts["backoff"] = asdict(options.backoff)
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> EnqueueRequest:
        fields = dict(record)
        options = dict(fields.pop("options"))
        backoff = options.pop("backoff", None)
        return cls(
            **fields,
            data=json.loads(fields["data_json"]),
            options=JobOptions(**options, backoff=Backoff(**backoff) if backoff else None),
        )


_RECORD_FIELDS = tuple(f.name for f in fields(EnqueueRequest) if f.name != "data")
_OPTION_FIELDS = tuple(f.name for f in fields(JobOptions))
_REQUEST = slot_setters(
    EnqueueRequest, "queue", "job_id", "job_name", "data", "data_json", "options",
    "timestamp_ms", "workflow_type", "task_queue", "rq_function", "shadow",
    "compare_within_s", "versioning", "list_key", "workflow_id", "list_envelope",
)  # fmt: skip


def resolved_request(
    *,
    queue: str,
    job_id: str,
    job_name: str,
    data: Any,
    data_json: str,
    options: JobOptions,
    timestamp_ms: int,
    workflow_type: str,
    task_queue: str,
    rq_function: str,
    versioning: str | None,
    list_key: str,
    workflow_id: str,
    list_envelope: bool,
) -> EnqueueRequest:
    """``EnqueueRequest(...)`` of a job as the router resolves it (not a shadow copy),
    made without the dataclass's ``__init__`` (``queue_router.frozen``): 1.0 µs, not
    2.4. With the workflow id from its template's two halves, it cut the CPU of a Bull
    enqueue by a tenth at concurrency 50, a twentieth one call after another.
    """
    request = object.__new__(EnqueueRequest)
    (set_queue, set_job_id, set_job_name, set_data, set_data_json, set_options,
     set_timestamp_ms, set_workflow_type, set_task_queue, set_rq_function, set_shadow,
     set_compare_within_s, set_versioning, set_list_key, set_workflow_id,
     set_list_envelope) = _REQUEST  # fmt: skip
    set_queue(request, queue)
    set_job_id(request, job_id)
    set_job_name(request, job_name)
    set_data(request, data)
    set_data_json(request, data_json)
    set_options(request, options)
    set_timestamp_ms(request, timestamp_ms)
    set_workflow_type(request, workflow_type)
    set_task_queue(request, task_queue)
    set_rq_function(request, rq_function)
    set_shadow(request, False)
    set_compare_within_s(request, 0)
    set_versioning(request, versioning)
    set_list_key(request, list_key)
    set_workflow_id(request, workflow_id)
    set_list_envelope(request, list_envelope)
    return request


class Backend(AsyncLifecycle, ABC):
    """Base class of every backend; ``startup``/``aclose`` are no-ops unless needed.

    ``startup`` connects and checks the server. It must not fail merely because the
    server is down (``enqueue`` reports that per call, through the contract's errors),
    but it does fail at once on what no retry can fix: rejected credentials
    (``CredentialsRejected``) or a refused preflight (``StartupError``).
    """

    name: str = "backend"

    @abstractmethod
    async def enqueue(self, request: EnqueueRequest) -> Placement:
        """Write the job, idempotently by ``request.job_id``."""

    async def enqueue_many(
        self, requests: Sequence[EnqueueRequest]
    ) -> list[Placement | QueueRouterError]:
        """Write many jobs; per job a ``Placement`` or its contract error, in input order.

        This default writes them one by one, 50 at a time; a backend that can batch
        (one pipelined round trip) overrides it. Anything outside the contract is
        reported as ``EnqueueOutcomeUnknown`` for that job.
        """
        room = asyncio.Semaphore(50)

        async def one(request: EnqueueRequest) -> Placement | QueueRouterError:
            async with room:
                try:
                    return await self.enqueue(request)
                except QueueRouterError as exc:
                    return exc
                except Exception as exc:
                    return EnqueueOutcomeUnknown(
                        self.name, request.job_id, f"unexpected {type(exc).__name__}: {exc}",
                        cause=exc,
                    )  # fmt: skip

        return list(await asyncio.gather(*(one(r) for r in requests)))
