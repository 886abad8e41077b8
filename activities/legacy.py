"""The legacy-path binding: RQ runs the same registered processors as Temporal does.

``RQBackend`` enqueues ``run_rq_job(data)`` with the router's queue, job name and Bull
options in ``job.meta["queue_router"]``. This function rebuilds the envelope from them,
runs the queue's processor, and returns the ``JobResult`` as a dict (RQ stores it).

Settings and processor modules are read once per worker process, from the same env vars
the Temporal worker reads (``REDIS_URL`` for the effect claims, ``QUEUE_ROUTER_PROCESSORS``).
"""

from __future__ import annotations

import asyncio
import dataclasses
from functools import cache
from typing import Any

from rq import get_current_job
from rq.job import Job

from queue_router.config import Settings
from queue_router.errors import JobError, PermanentJobError
from queue_router.evidence.ledger import Evidence
from queue_router.processors.effects import EffectClaims
from queue_router.processors.registry import (
    default_registry,
    import_processor_modules,
    run_processor,
)
from queue_router.wiring import control_client
from workflows.envelope import JobEnvelope, JobResult

__all__ = ["attempt_of", "envelope_of", "run_rq_job"]


@cache
def _settings() -> Settings:
    settings = Settings.from_env()
    import_processor_modules(settings.worker.processor_modules)
    return settings


def run_rq_job(data: Any) -> dict[str, Any]:
    """The RQ job function (``QUEUE_ROUTER_RQ_FUNCTION``'s default)."""
    job = get_current_job()
    if job is None:
        raise JobError("run_rq_job must run inside an RQ worker")
    settings = _settings()
    try:
        result = asyncio.run(_run(envelope_of(job, data), attempt_of(job), settings))
    except PermanentJobError:
        job.retries_left = 0  # RQ reads this when it decides whether to retry
        raise
    return dataclasses.asdict(result)


async def _run(envelope: JobEnvelope, attempt: int, settings: Settings) -> JobResult:
    claims = EffectClaims.from_url(
        settings.redis.redis_url,
        tls=settings.redis.tls(),
        lease_ms=settings.worker.effect_lease_ms,
        ttl_s=settings.worker.effect_ttl_s,
    )
    evidence = Evidence(control_client(settings))
    try:
        return await run_processor(
            default_registry,
            envelope,
            attempt=attempt,
            runtime="rq",
            settings=settings,
            claims=claims,
            evidence=evidence,
        )
    finally:
        await claims.aclose()
        await evidence.aclose()


def envelope_of(job: Job, data: Any) -> JobEnvelope:
    """The envelope the router wrote, from the RQ job's meta (or the RQ queue's name)."""
    meta = job.meta.get("queue_router") or {}
    return JobEnvelope(
        queue=meta.get("queue") or job.origin,
        job_id=job.id,
        name=str(meta.get("name") or job.func_name),
        data=data,
        options=meta.get("options") or {},
        shadow=bool(meta.get("shadow", False)),
        enqueued_at_ms=int(job.enqueued_at.timestamp() * 1000) if job.enqueued_at else 0,
    )


def attempt_of(job: Job) -> int:
    """1 on the first run: RQ counts retries down in ``retries_left`` as it retries."""
    attempts = int((job.meta.get("queue_router") or {}).get("options", {}).get("attempts") or 1)
    if job.retries_left is None:
        return 1
    return max(1, attempts - job.retries_left)
