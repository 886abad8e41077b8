"""What happens to a job once the router has resolved it: the backend calls and the receipt.

The base of ``QueueRouter`` (below ``ManyJobs``, which places many jobs through it). It
reads only the contract's outcomes: a ``Placement``, ``BackendUnavailable`` (definitely
not written) or ``EnqueueOutcomeUnknown`` (maybe written). Hence the rules:

- fallback to the legacy queue only after a definite Temporal failure, and only while
  Temporal does not hold the job and may not (``placements``);
- dual-write succeeds while one side holds the job, and reports the other side;
- shadow copies are background work the caller never waits for (``shadow``);
- the rollback guard counts Temporal's definite failures, and every instance hears when
  it opens or closes (``control``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable

from redis.exceptions import RedisError

from queue_router.config import QueueConfig, Settings
from queue_router.contract import Backend, EnqueueRequest
from queue_router.control import RuntimeControl, who
from queue_router.errors import (
    BackendUnavailable,
    CredentialsRejected,
    EnqueueOutcomeUnknown,
    NotEnqueuedError,
    QueueRouterError,
)
from queue_router.evidence.ledger import Evidence
from queue_router.frozen import slot_setters
from queue_router.guard import Admission, RollbackGuard
from queue_router.placements import PlacementMemory, PlacementMemoryUnavailable
from queue_router.receipts import Placement, Receipt
from queue_router.routing import Route
from queue_router.shadow.starts import ShadowStarts
from queue_router.telemetry.logsummary import LogSummary
from queue_router.telemetry.metrics import (
    FALLBACKS,
    GUARD_OPEN,
    EnqueueOutcome,
    count_enqueue,
    record_enqueue,
)

log = logging.getLogger("queue_router")

__all__ = ["Dispatch"]


class Dispatch:
    """Places resolved jobs; the router it is the base of sets up what it reads."""

    settings: Settings
    _backends: dict[str, Backend]
    _memory: PlacementMemory
    _guard: RollbackGuard
    _shadow: ShadowStarts
    _evidence: Evidence | None
    _control: RuntimeControl | None
    _queues: dict[str, QueueConfig]
    _chores: set[asyncio.Task[None]]
    """Background writes of the guard's shared state; the router's close awaits them."""
    _log: LogSummary

    def _place(
        self,
        config: QueueConfig,
        route: Route,
        request: EnqueueRequest,
        memory: PlacementMemory | None = None,
    ) -> Awaitable[Receipt]:
        """Place a resolved job on its route (a shadow copy is ``_single``'s: shadow mode
        writes one side), remembering in ``memory`` (the router's own unless given) what
        Temporal holds. Not a coroutine itself: one coroutine less on the hot path."""
        memory = self._memory if memory is None else memory
        if route.secondary is not None:
            return self._dual(route, request, memory)
        return self._single(route, request, config, memory)

    async def _call(
        self, backend_name: str, request: EnqueueRequest, mode: str, *, fell_back: bool = False
    ) -> Placement:
        """One backend call, timed and counted; anything outside the contract is unknown."""
        outcome: EnqueueOutcome = "unknown"
        started = time.perf_counter()
        try:
            placement = await self._backends[backend_name].enqueue(request)
            outcome = "existing" if placement.existing else "fell_back" if fell_back else "placed"
            return placement
        except NotEnqueuedError:
            outcome = "failed"
            raise
        except QueueRouterError:
            raise
        except Exception as exc:
            raise EnqueueOutcomeUnknown(
                backend_name, request.job_id, f"unexpected {type(exc).__name__}: {exc}", cause=exc
            ) from exc
        finally:
            record_enqueue(
                request.queue, backend_name, mode, outcome, time.perf_counter() - started
            )

    async def _single(
        self, route: Route, request: EnqueueRequest, config: QueueConfig, memory: PlacementMemory
    ) -> Receipt:
        may_fall_back = route.to_temporal and self.settings.routing.bull_fallback
        admission = self._guard.admit() if may_fall_back else Admission.GO
        generation = self._guard.generation  # an opening while this call is out: not ours
        if admission is Admission.FALL_BACK:
            reason = (
                f"rollback guard open after {self._guard.failures} Temporal failures in a row; "
                f"Temporal is tried again in {self._guard.retry_in_s():.0f}s"
            )
            return await self._fall_back(route, request, config, memory, reason, "guard_open")
        try:
            placement = await self._call(route.primary, request, route.mode.value)
        except (BackendUnavailable, CredentialsRejected) as exc:  # definitely not written
            if route.to_temporal and self._guard.record_failure(generation):
                log.error("rollback guard opened: %s", exc)
                self._publish_guard()
                self._share_guard(opened=True, reason=str(exc))
            if not may_fall_back:
                raise
            return await self._fall_back(route, request, config, memory, str(exc), "unavailable")
        except EnqueueOutcomeUnknown:
            if route.to_temporal:
                await memory.doubt(request.queue, request.job_id)
            raise
        else:
            if route.to_temporal:
                if self._guard.record_success(generation):  # the probe (or no fallback)
                    self._publish_guard()
                    self._share_guard(opened=False, reason="")
                await memory.held(request.queue, request.job_id, placement)
        finally:
            if admission is Admission.PROBE:  # the guard is open while probing: gauge stays 1
                self._guard.settle_probe()  # unknown, cancelled ...: re-open, never stick
        if route.shadow is None:
            return receipt(route, request, (placement,))
        # The real job is placed: now its shadow copy, in the background (never awaited).
        backend = self._backends[route.shadow]
        started = self._shadow.submit(request, config.shadow.within_s, backend)
        return receipt(route, request, (placement,), shadow_started=started)

    async def _fall_back(
        self,
        route: Route,
        request: EnqueueRequest,
        config: QueueConfig,
        memory: PlacementMemory,
        reason: str,
        why: str,
    ) -> Receipt:
        """Temporal definitely did not take the job now: the legacy queue gets it instead.

        Unless Temporal took it earlier (by any process, even if it has completed since:
        the receipt then says Temporal holds it) or may have (an earlier start's outcome
        was unknown: ``EnqueueOutcomeUnknown``). A legacy copy would run it twice.
        """
        try:
            recalled = await memory.recall(request.queue, request.job_id)
        except PlacementMemoryUnavailable as exc:
            raise EnqueueOutcomeUnknown(
                "temporal", request.job_id,
                f"Temporal did not take it ({reason}) and whether it did earlier cannot be "
                f"checked ({exc}), so no fallback",
            ) from exc  # fmt: skip
        if recalled is not None and recalled.state == "doubt":
            raise EnqueueOutcomeUnknown(
                "temporal", request.job_id,
                f"an earlier start of this job had an unknown outcome, so no fallback ({reason})",
            )  # fmt: skip
        if recalled is not None:
            wf_id = recalled.workflow_id or request.workflow_id
            held = Placement(
                backend="temporal", job_id=wf_id, run_id=recalled.run_id, existing=True,
                detail={"remembered": True, "temporal_now": reason},
            )  # fmt: skip
            count_enqueue(request.queue, "temporal", route.mode.value, "existing")
            return receipt(route, request, (held,))
        FALLBACKS.labels(request.queue, why).inc()
        self._log.warning(f"fallback:{why}", "job %s on %s fell back to %s: %s",
                          request.job_id, route.queue, config.legacy, reason)  # fmt: skip
        placement = await self._call(config.legacy, request, route.mode.value, fell_back=True)
        failed = Placement(backend="temporal", job_id=request.job_id, error=reason)
        return receipt(
            route, request, (placement,), failures=(failed,), fell_back=True, reason=reason
        )

    async def _dual(
        self, route: Route, request: EnqueueRequest, memory: PlacementMemory
    ) -> Receipt:
        assert route.secondary is not None
        names = (route.primary, route.secondary)
        outcomes = await self._both(names, request, route.mode.value)
        held: list[Placement] = []
        failed: list[Placement] = []
        errors: list[BaseException] = []
        for name, outcome in zip(names, outcomes, strict=True):
            if isinstance(outcome, Placement):
                held.append(outcome)
                if name == "temporal":
                    await memory.held(request.queue, request.job_id, outcome)
                continue
            if not isinstance(outcome, QueueRouterError):
                raise outcome  # cancellation and the like
            errors.append(outcome)
            kind = "unknown" if isinstance(outcome, EnqueueOutcomeUnknown) else "failed"
            if name == "temporal" and kind == "unknown":
                await memory.doubt(request.queue, request.job_id)
            error = f"{kind}: {outcome}"
            failed.append(Placement(backend=name, job_id=request.job_id, error=error))
            log.error("dual-write of job %s: %s side %s: %s", request.job_id, name, kind, outcome)
        if held:  # the caller gets a receipt: the missing side is repaired later
            for missing in failed:
                await self._remember_for_repair(request, missing.backend, missing.error or "")
            return receipt(route, request, tuple(held), failures=tuple(failed))
        if all(isinstance(e, NotEnqueuedError) for e in errors):
            raise BackendUnavailable(
                "dual", "; ".join(str(e) for e in errors), cause=errors[0]
            ) from errors[0]
        raise EnqueueOutcomeUnknown(
            "dual", request.job_id, "; ".join(str(e) for e in errors), cause=errors[0]
        ) from errors[0]

    async def _both(
        self, names: tuple[str, str], request: EnqueueRequest, mode: str
    ) -> list[Placement | BaseException]:
        """Both sides of a dual write at once, each one's placement or error in ``names``'
        order. The Temporal side goes first and is awaited here; the other runs as a task
        that starts once this one waits. (With both as tasks the legacy write went out
        first and the start waited behind its Python: a dual call's p50 was 1.15x Temporal
        mode's. Both as tasks, the start's first, against this, A/B in one process: 1.046x
        and 1.038x against 1.012x and 0.978x.) Cancelled, both are."""
        first = names.index("temporal") if "temporal" in names else 0
        other = asyncio.ensure_future(self._call(names[1 - first], request, mode))
        mine: Placement | BaseException
        theirs: Placement | BaseException
        try:
            mine = await self._call(names[first], request, mode)
        except Exception as exc:  # a QueueRouterError: ``_call`` turns the rest into one
            mine = exc
        except BaseException:
            other.cancel()
            other.add_done_callback(_retrieve)  # its own error is not news now
            raise
        try:
            theirs = await other
        except Exception as exc:
            theirs = exc
        return [mine, theirs] if first == 0 else [theirs, mine]

    async def _remember_for_repair(self, request: EnqueueRequest, side: str, error: str) -> None:
        """Record a dual-write side that failed, for ``queue-router reconcile``."""
        if self._evidence is None:
            return
        try:
            await self._evidence.record_dual_failure(
                request.queue, request.job_id, side, error, request.to_record()
            )
        except (RedisError, OSError) as exc:  # the log line above is then all there is
            log.error("dual-write failure of job %s (%s side) not recorded for reconcile: %s",
                      request.job_id, side, exc)  # fmt: skip

    def _publish_guard(self) -> None:
        """``queue_router_guard_open`` of every queue follows this router's guard."""
        for name in self._queues:
            GUARD_OPEN.labels(name).set(1 if self._guard.is_open else 0)

    def _share_guard(self, *, opened: bool, reason: str) -> None:
        """Tell every instance (in the background: the caller never waits on it)."""
        if self._control is None:
            return
        control, by = self._control, f"router {who()}"
        if opened:
            until = time.time() + self._guard.retry_in_s()
            chore = control.open_guard(until=until, reason=reason, by=by)
        else:
            chore = control.close_guard(reason="a probe of Temporal succeeded", by=by)
        task = asyncio.get_running_loop().create_task(_quietly(chore))
        self._chores.add(task)
        task.add_done_callback(self._chores.discard)


def _retrieve(task: asyncio.Future[Placement]) -> None:
    """Read a dropped task's outcome, so asyncio does not log it as never retrieved."""
    if not task.cancelled():
        task.exception()


async def _quietly(chore: Awaitable[None]) -> None:
    """Shared-state writes in the background: a Redis failure is logged, never raised."""
    try:
        await chore
    except (RedisError, OSError) as exc:
        log.warning("could not share the rollback guard's state: %s", exc)


_RECEIPT = slot_setters(
    Receipt, "queue", "job_id", "mode", "bucket", "percentage", "placements", "failures",
    "fell_back", "fallback_reason", "shadow_started",
)  # fmt: skip


def receipt(
    route: Route,
    request: EnqueueRequest,
    placements: tuple[Placement, ...],
    *,
    failures: tuple[Placement, ...] = (),
    fell_back: bool = False,
    reason: str | None = None,
    shadow_started: bool = False,
) -> Receipt:
    """The receipt of one job: the route it took, who holds it, which sides failed.

    Made without the dataclass's ``__init__`` (``queue_router.frozen``): one per enqueue.
    """
    made = object.__new__(Receipt)
    (set_queue, set_job_id, set_mode, set_bucket, set_percentage, set_placements,
     set_failures, set_fell_back, set_fallback_reason, set_shadow_started) = _RECEIPT  # fmt: skip
    set_queue(made, route.queue)
    set_job_id(made, request.job_id)
    set_mode(made, route.mode)
    set_bucket(made, route.bucket)
    set_percentage(made, route.percentage)
    set_placements(made, placements)
    set_failures(made, failures)
    set_fell_back(made, fell_back)
    set_fallback_reason(made, reason)
    set_shadow_started(made, shadow_started)
    return made
