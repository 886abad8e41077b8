"""The processor registry: one function per queue, run by Temporal and the legacy queue alike.

A processor is ``async def f(job: JobContext) -> result``. ``@processor("email-send")``
registers it in the default registry; the Temporal activity and the RQ job function
both look the job's queue up here and run the same function, so a team migrating from
Bull does not rewrite its processors.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from queue_router.config import Settings
from queue_router.errors import ConfigError, PermanentJobError, ProcessorNotRegistered
from queue_router.evidence.ledger import Evidence
from queue_router.processors.context import JobContext, Runtime
from queue_router.processors.effects import EffectClaims
from queue_router.telemetry.metrics import JOB_SECONDS, JOBS
from workflows.envelope import JobEnvelope, JobResult

__all__ = [
    "Processor",
    "Registry",
    "default_registry",
    "import_processor_modules",
    "processor",
    "run_processor",
]

Processor = Callable[[JobContext], Awaitable[Any]]
log = logging.getLogger(__name__)


class Registry:
    """Queue name -> processor. Registering one queue twice is an error, never a silent swap."""

    def __init__(self) -> None:
        self._processors: dict[str, Processor] = {}

    def processor(self, *queues: str) -> Callable[[Processor], Processor]:
        """Decorator: ``@registry.processor("email-send", "email-send-welcome")``."""
        if not queues:
            raise ConfigError("@processor needs at least one queue name")

        def register(func: Processor) -> Processor:
            for queue in queues:
                self.add(queue, func)
            return func

        return register

    def add(self, queue: str, func: Processor) -> None:
        existing = self._processors.get(queue)
        if existing is not None and existing is not func:
            raise ConfigError(
                f"queue {queue!r} already has processor {_qualname(existing)}; "
                f"cannot also register {_qualname(func)}"
            )
        self._processors[queue] = func

    def get(self, queue: str) -> Processor:
        try:
            return self._processors[queue]
        except KeyError:
            raise ProcessorNotRegistered(queue, list(self._processors)) from None

    def queues(self) -> list[str]:
        return sorted(self._processors)


default_registry = Registry()
processor = default_registry.processor


async def run_processor(
    registry: Registry,
    envelope: JobEnvelope,
    *,
    attempt: int,
    runtime: Runtime,
    settings: Settings,
    claims: EffectClaims | None,
    evidence: Evidence | None = None,
) -> JobResult:
    """Run the queue's processor on one job; the single code path of every runtime.

    Counted in ``queue_router_job_total``: ``completed``; ``retried`` for a failure that
    the job's ``attempts`` will retry; ``failed`` for the last attempt or a permanent error.
    A finished job (completed or failed for good, not a shadow run) is also written to
    ``evidence``, the figures the rollout controller compares.
    """
    func = registry.get(envelope.queue)
    job = JobContext.from_envelope(
        envelope, attempt=attempt, runtime=runtime, settings=settings, claims=claims
    )
    started = time.perf_counter()
    outcome = "failed"
    try:
        result = await func(job)
        outcome = "completed"
    except PermanentJobError:
        raise
    except Exception:
        if attempt < int(envelope.options.get("attempts") or 1):
            outcome = "retried"
        raise
    finally:
        seconds = time.perf_counter() - started
        JOB_SECONDS.labels(envelope.queue, runtime).observe(seconds)
        JOBS.labels(envelope.queue, runtime, outcome).inc()
        if evidence is not None and outcome != "retried" and not envelope.shadow:
            await _record_run(evidence, envelope.queue, runtime, outcome == "completed", seconds)
    return JobResult(
        queue=envelope.queue,
        job_id=envelope.job_id,
        result=result,
        shadow=envelope.shadow,
        attempt=attempt,
        effects=job.effects,
    )


async def _record_run(
    evidence: Evidence, queue: str, runtime: str, ok: bool, seconds: float
) -> None:
    """A lost record thins the controller's sample; it never fails the job."""
    try:
        await evidence.record_run(queue, runtime, ok=ok, seconds=seconds)
    except (RedisError, OSError) as exc:
        log.warning("job run on %s not recorded for the rollout figures: %s", queue, exc)


def import_processor_modules(modules: Iterable[str], paths: Iterable[str] = ()) -> None:
    """Import the modules whose ``@processor`` decorators fill the default registry.

    Like ``rq worker`` and ``celery``, the current directory is searched first, then
    ``paths`` (the worker's ``--path``), so ``QUEUE_ROUTER_PROCESSORS=myapp.jobs`` works
    from the app's folder without ``PYTHONPATH``.
    """
    searched = [str(Path(p).resolve()) for p in [*paths, os.getcwd()]]
    for entry in reversed(searched):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ConfigError(
                f"QUEUE_ROUTER_PROCESSORS: cannot import processor module {module!r}: {exc} "
                f"(looked in {', '.join(searched)} and the installed packages; "
                "run the worker from your app's folder or give --path)"
            ) from exc


def _qualname(func: Processor) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"
