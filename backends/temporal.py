"""``TemporalBackend``: one workflow start per job, with the workflow id derived from it.

Starts use ``USE_EXISTING`` + ``REJECT_DUPLICATE``, so a repeat of the same job id
returns the run that exists (running or closed) instead of starting a second one.

Doubt is resolved by asking the same question again, never by a read. Each attempt is
one RPC without the SDK's hidden retries, so we know of every attempt whether it can
have reached the server:

- a start the client's data converter (or its codec) cannot encode never leaves:
  "not written", so the legacy queue may take the job;
- a refused or failed connect: this attempt never left; try again until the retry
  budget is spent, then "not written" (unless an earlier attempt is in doubt);
- a timeout, reset or other ambiguous error: the start may be persisted. The *same*
  request (same workflow id, policies and request id, so the server deduplicates it)
  is sent again until the server answers; a ``describe`` saying NOT_FOUND could race a
  start still being persisted, so it proves nothing and is not used;
- once in doubt, only a success, ``ALREADY_EXISTS`` or a rejection that the earlier
  attempt would have met too (a malformed request) settles it; otherwise the outcome
  stays unknown.

The request is built with the public ``workflow_service`` API because the response's
``started`` flag (did this call create the run?) is not exposed by ``start_workflow``.
Client interceptors are therefore not applied to these starts.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio.api.workflowservice.v1 import StartWorkflowExecutionResponse
from temporalio.client import Client
from temporalio.service import RetryConfig, RPCError, RPCStatusCode, TLSConfig

from backends._temporal_start import start_request, writes_json_as_we_do
from queue_router.connections.diagnose import short_reason, temporal_tls_hint
from queue_router.contract import Backend, EnqueueRequest
from queue_router.errors import BackendUnavailable, CredentialsRejected, EnqueueOutcomeUnknown
from queue_router.receipts import Placement
from queue_router.telemetry.sdk_logs import core_runtime
from workflows.envelope import shadow_id, workflow_id

__all__ = ["TemporalBackend"]

# The server rejected the request itself; an earlier send of the same request would
# have met the same answer, so these settle a doubt too.
_MALFORMED = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.NOT_FOUND,  # the namespace
    RPCStatusCode.UNIMPLEMENTED,
    RPCStatusCode.OUT_OF_RANGE,
}
# The server answered and refused this attempt (nothing written by it), but it might
# have accepted an earlier one: definite only when no earlier attempt is in doubt.
_REFUSED = _MALFORMED | {
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.RESOURCE_EXHAUSTED,
}
_CREDENTIALS = {RPCStatusCode.UNAUTHENTICATED, RPCStatusCode.PERMISSION_DENIED}


class TemporalBackend(Backend):
    """Starts the queue's workflow type with a ``JobEnvelope``.

    Args:
        target: ``host:port`` of the Temporal frontend.
        namespace: Temporal namespace.
        tls: TLS settings, or ``False``.
        rpc_timeout_s: deadline of one start attempt; past it the same start is re-sent.
        retry_s: how long to keep trying a server that cannot be reached at all.
        api_key: Temporal Cloud API key (``TEMPORAL_API_KEY``); never logged.
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
        api_key: str | None = None,
        client: Client | None = None,
    ) -> None:
        self._target = target
        self._namespace = namespace
        self._tls = tls
        self._rpc_timeout = timedelta(seconds=rpc_timeout_s)
        self._retry_s = retry_s
        self._doubt_s = 2 * rpc_timeout_s + retry_s
        self._api_key = api_key
        self._client = client
        self._plain_json: bool | None = None
        """Whether the client's converter ``writes_json_as_we_do`` (a client keeps its
        converter: decided once)."""

    async def client(self) -> Client:
        """The client, connected lazily so a Temporal outage never stops the router."""
        if self._client is None:
            self._client = await Client.connect(
                self._target,
                namespace=self._namespace,
                tls=self._tls,
                api_key=self._api_key,
                retry_config=RetryConfig(max_retries=0),
                lazy=True,
                runtime=core_runtime(),  # the SDK core's log lines go to Python logging
            )
        return self._client

    async def enqueue(self, request: EnqueueRequest) -> Placement:
        wf_id = request.workflow_id or workflow_id(request.queue, request.job_id)
        if request.shadow:
            wf_id = shadow_id(wf_id)
        client = await self.client()
        if self._plain_json is None:
            self._plain_json = writes_json_as_we_do(client.data_converter)
        try:
            start = await start_request(client, request, wf_id, plain_json=self._plain_json)
        except Exception as exc:  # nothing was sent: definitely not written
            raise BackendUnavailable(
                self.name,
                f"start of {wf_id} never sent: the client's data converter could not encode "
                f"it ({type(exc).__name__}: {exc})",
                cause=exc,
            ) from exc
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + self._retry_s
        doubt: BaseException | None = None
        last: BaseException | None = None
        pause = 0.05
        while True:
            try:
                response = await client.workflow_service.start_workflow_execution(
                    start, retry=False, timeout=self._rpc_timeout
                )
                return self._placed(request, wf_id, response)
            except RPCError as exc:
                if exc.status == RPCStatusCode.ALREADY_EXISTS:  # closed run, REJECT_DUPLICATE
                    return await self._existing(request, wf_id)
                last = exc
                if exc.status in _CREDENTIALS and doubt is None:
                    raise CredentialsRejected(
                        self.name,
                        f"Temporal at {self._target} refused our credentials ({exc.status.name}); "
                        "nothing was written: check TEMPORAL_API_KEY / TEMPORAL_CLIENT_CERT_PATH "
                        f"and TEMPORAL_NAMESPACE={self._namespace}",
                    ) from exc
                if exc.status in _MALFORMED or (exc.status in _REFUSED and doubt is None):
                    raise BackendUnavailable(
                        self.name, f"start of {wf_id} refused: {exc.status.name}: {exc}", cause=exc
                    ) from exc
                if not _never_sent(exc) and doubt is None:
                    doubt, give_up_at = exc, loop.time() + self._doubt_s
            except RuntimeError as exc:
                last = exc
                if not str(exc).startswith("Failed client connect") and doubt is None:
                    doubt, give_up_at = exc, loop.time() + self._doubt_s
            if loop.time() + pause >= give_up_at:
                break
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)
        if doubt is not None:
            raise EnqueueOutcomeUnknown(
                self.name, request.job_id,
                f"start of {wf_id} may have been persisted ({doubt}); re-sending it got no "
                f"answer within {self._doubt_s:g}s (last: {last})",
                cause=doubt,
            ) from doubt  # fmt: skip
        hint = temporal_tls_hint(last, tls=bool(self._tls)) if last else ""
        raise BackendUnavailable(
            self.name,
            f"cannot reach Temporal at {self._target}: {short_reason(last) if last else ''}{hint}",
            cause=last,
        ) from last

    def _placed(
        self, request: EnqueueRequest, wf_id: str, response: StartWorkflowExecutionResponse
    ) -> Placement:
        return self._placement(request, wf_id, response.run_id, existing=not response.started)

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

    def _placement(
        self, request: EnqueueRequest, wf_id: str, run_id: str | None, *, existing: bool
    ) -> Placement:
        return Placement(
            backend=self.name,
            job_id=wf_id,
            run_id=run_id or None,
            existing=existing,
            shadow=request.shadow,
            detail={"workflow_type": request.workflow_type, "task_queue": request.task_queue},
        )


def _never_sent(exc: RPCError) -> bool:
    """UNAVAILABLE because this attempt's TCP connect failed: the request never left."""
    return exc.status == RPCStatusCode.UNAVAILABLE and "connect error" in str(exc)
