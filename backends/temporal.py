"""``TemporalBackend``: one workflow start per job, with the workflow id derived from it.

Starts use ``USE_EXISTING`` + ``REJECT_DUPLICATE``, so a repeat of the same job id
returns the run that exists (running or closed) instead of starting a second one.
Failures are triaged by what the server can have seen: a refused connection or an
explicit rejection means "not written"; a timeout or dropped call is looked up with
``describe`` and only reported "not written" when the workflow provably does not exist.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RetryConfig, RPCError, RPCStatusCode, TLSConfig

from queue_router.contract import Backend, EnqueueRequest
from queue_router.errors import BackendUnavailable, EnqueueOutcomeUnknown
from queue_router.receipts import Placement
from workflows.envelope import JobEnvelope, workflow_id

__all__ = ["TemporalBackend"]

# The server answered and refused: nothing was written.
_REJECTED = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.NOT_FOUND,
    RPCStatusCode.PERMISSION_DENIED,
    RPCStatusCode.UNAUTHENTICATED,
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.RESOURCE_EXHAUSTED,
    RPCStatusCode.UNIMPLEMENTED,
    RPCStatusCode.OUT_OF_RANGE,
}


class TemporalBackend(Backend):
    """Starts the queue's workflow type with a ``JobEnvelope``.

    Args:
        target: ``host:port`` of the Temporal frontend.
        namespace: Temporal namespace.
        tls: TLS settings, or ``False``.
        rpc_timeout_s: deadline of one start; past it the outcome is looked up.
        retry_s: how long the SDK retries an unreachable server before we give up.
        client: an existing connected client to reuse (then target/tls are ignored).
    """

    name = "temporal"

    def __init__(
        self,
        target: str = "localhost:7233",
        *,
        namespace: str = "default",
        tls: bool | TLSConfig = False,
        rpc_timeout_s: float = 5.0,
        retry_s: float = 2.0,
        client: Client | None = None,
    ) -> None:
        self._target = target
        self._namespace = namespace
        self._tls = tls
        self._rpc_timeout = timedelta(seconds=rpc_timeout_s)
        self._retry = RetryConfig(
            max_elapsed_time_millis=int(retry_s * 1000), initial_interval_millis=100
        )
        self._client = client

    async def client(self) -> Client:
        """The client, connected lazily so a Temporal outage never stops the router."""
        if self._client is None:
            self._client = await Client.connect(
                self._target,
                namespace=self._namespace,
                tls=self._tls,
                retry_config=self._retry,
                lazy=True,
            )
        return self._client

    async def enqueue(self, request: EnqueueRequest) -> Placement:
        wf_id = workflow_id(request.queue, request.job_id, shadow=request.shadow)
        envelope = JobEnvelope(
            queue=request.queue,
            job_id=request.job_id,
            name=request.job_name,
            data=request.data,
            options=request.options.to_bull(),
            shadow=request.shadow,
            enqueued_at_ms=request.timestamp_ms,
        )
        try:
            client = await self.client()
            handle: WorkflowHandle[object, object] = await client.start_workflow(
                request.workflow_type,
                envelope,
                id=wf_id,
                task_queue=request.task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                start_delay=_delay(request),
                memo={"queue": request.queue, "job_id": request.job_id, "shadow": request.shadow},
                rpc_timeout=self._rpc_timeout,
            )
        except WorkflowAlreadyStartedError:
            return await self._existing(request, wf_id)
        except RPCError as exc:
            if exc.status in _REJECTED or _refused(exc):
                raise BackendUnavailable(
                    self.name, f"start of {wf_id} failed: {exc.status.name}: {exc}", cause=exc
                ) from exc
            return await self._resolve_doubt(request, wf_id, exc)
        except RuntimeError as exc:  # the lazy connect failed: nothing was sent
            raise BackendUnavailable(
                self.name, f"cannot connect to {self._target}: {exc}", cause=exc
            ) from exc
        response = getattr(handle, "_start_workflow_response", None)
        started = bool(getattr(response, "started", True))
        run_id = handle.result_run_id or handle.first_execution_run_id
        return self._placement(request, wf_id, run_id, existing=not started)

    async def _existing(self, request: EnqueueRequest, wf_id: str) -> Placement:
        """A closed run with this id exists (REJECT_DUPLICATE): the job is already done."""
        client = await self.client()
        try:
            described = await client.get_workflow_handle(wf_id).describe(
                rpc_timeout=self._rpc_timeout
            )
            run_id: str | None = described.run_id
            status = described.status
        except RPCError:
            run_id, status = None, None
        placement = self._placement(request, wf_id, run_id, existing=True)
        if status is not None:
            placement.detail["status"] = status.name
        return placement

    async def _resolve_doubt(self, request: EnqueueRequest, wf_id: str, exc: RPCError) -> Placement:
        """After a timeout or dropped call: found -> placed; provably absent -> not written."""
        client = await self.client()
        try:
            described = await client.get_workflow_handle(wf_id).describe(
                rpc_timeout=self._rpc_timeout
            )
        except RPCError as lookup:
            if lookup.status == RPCStatusCode.NOT_FOUND:
                raise BackendUnavailable(
                    self.name, f"start of {wf_id} failed ({exc}) and it does not exist", cause=exc
                ) from exc
            raise EnqueueOutcomeUnknown(
                self.name, request.job_id, f"{exc}; lookup of {wf_id} failed: {lookup}", cause=exc
            ) from exc
        return self._placement(request, wf_id, described.run_id, existing=True)

    def _placement(
        self, request: EnqueueRequest, wf_id: str, run_id: str | None, *, existing: bool
    ) -> Placement:
        return Placement(
            backend=self.name,
            job_id=wf_id,
            run_id=run_id,
            existing=existing,
            shadow=request.shadow,
            detail={"workflow_type": request.workflow_type, "task_queue": request.task_queue},
        )


def _delay(request: EnqueueRequest) -> timedelta | None:
    """Bull's ``delay`` becomes Temporal's ``start_delay``."""
    return timedelta(milliseconds=request.options.delay_ms) if request.options.delay_ms else None


def _refused(exc: RPCError) -> bool:
    """UNAVAILABLE because the TCP connect was refused: the request never left."""
    return exc.status == RPCStatusCode.UNAVAILABLE and "connect error" in str(exc)
