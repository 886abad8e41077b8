"""Dual-write repair: write the side a dual-write missed, once, with the same job id.

The router records every dual-write whose one side failed while the other took the job
(``ledger``, ``queue-router:dual:<queue>``), with the job as it was enqueued. For each,
``reconcile``:

- finds the job completed on the side that holds it: reports it and writes nothing (a
  second copy would run a finished job again);
- otherwise writes the missing side through its backend, idempotently by job id (a side
  that turns out to hold it already, e.g. after an unknown outcome, is reported as such);
- forgets the record once done, so a second run is a no-op. A side still unreachable
  keeps its record for the next run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from redis.exceptions import RedisError

from queue_router.contract import Backend, EnqueueRequest
from queue_router.errors import QueueRouterError
from queue_router.evidence.ledger import DualFailure, Evidence

__all__ = ["Repair", "reconcile"]

IsCompleted = Callable[[str, EnqueueRequest], Awaitable[bool]]
"""Whether the job is completed on the named backend (``bull``, ``rq``, ``temporal``)."""


@dataclass(frozen=True, slots=True)
class Repair:
    job_id: str
    missing: str
    holder: str
    action: str
    """``written``, ``already there``, ``completed on <holder>``, ``would write`` or
    ``failed``."""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.action != "failed"


async def reconcile(
    queue: str,
    legacy: str,
    evidence: Evidence,
    backends: Mapping[str, Backend],
    is_completed: IsCompleted,
    *,
    dry_run: bool = False,
    on_repair: Callable[[Repair], None] = lambda _: None,
) -> list[Repair]:
    repairs = []
    for failure in await evidence.dual_failures(queue):
        repair = await _repair(failure, legacy, evidence, backends, is_completed, dry_run)
        on_repair(repair)
        repairs.append(repair)
    return repairs


async def _repair(
    failure: DualFailure, legacy: str, evidence: Evidence, backends: Mapping[str, Backend],
    is_completed: IsCompleted, dry_run: bool,
) -> Repair:  # fmt: skip
    request = EnqueueRequest.from_record(failure.request)
    holder = legacy if failure.side == "temporal" else "temporal"

    def done(action: str, detail: str = "") -> Repair:
        return Repair(failure.job_id, failure.side, holder, action, detail)

    try:
        if await is_completed(holder, request):
            result = done(f"completed on {holder}", "not re-created")
        elif dry_run:
            return done("would write", failure.error)
        else:
            placement = await backends[failure.side].enqueue(request)
            result = done("already there" if placement.existing else "written", placement.job_id)
    except (TimeoutError, QueueRouterError, RedisError, OSError) as exc:
        return done("failed", str(exc))
    if not dry_run:
        await evidence.repaired(failure)
    return result
