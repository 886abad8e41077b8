"""``migrate``: move legacy jobs into Temporal workflows, each exactly once, crash or not.

Per job: read and validate it; **hold** it (out of the list Bull/RQ workers read, in one
Lua step, refused if a worker holds its lock); start its workflow with the id derived
from the job id (idempotent); then **confirm** (the job hash moves into the ledger). A
kill at any instant leaves the job runnable in Redis, or held, or in the ledger; a rerun
first finishes every held job (the start is idempotent, so a workflow started before the
kill is found, not duplicated), then carries on.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from backends.temporal import TemporalBackend
from queue_router.config import QueueConfig, Settings
from queue_router.connections.redis_client import AsyncRedis
from queue_router.contract import EnqueueRequest
from queue_router.errors import EnqueueOutcomeUnknown, NotEnqueuedError, PayloadError
from queue_router.migration.bull import BullQueue
from queue_router.migration.queues import LegacyJob, LegacyQueue, now_ms
from queue_router.migration.rq import RQQueue
from queue_router.payload import encode_payload
from queue_router.receipts import Backoff, JobOptions

__all__ = ["JobOutcome", "MigrationPlan", "MigrationReport", "Migrator", "bull_options"]


@dataclass
class MigrationPlan:
    queues: list[str]
    states: tuple[str, ...] = ("waiting",)
    batch_size: int = 50
    max_jobs: int = 0
    """0 = all."""
    batch_delay_ms: int = 0
    concurrency: int = 10
    dry_run: bool = False
    """Read and validate every job; write nothing."""


@dataclass
class JobOutcome:
    queue: str
    job_id: str
    state: str
    outcome: str
    """moved, valid (dry run), skipped, invalid or failed."""
    reason: str = ""
    workflow_id: str = ""
    run_id: str | None = None


@dataclass
class MigrationReport:
    outcomes: list[JobOutcome] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def counts(self) -> Counter[str]:
        return Counter(o.outcome for o in self.outcomes)

    @property
    def ok(self) -> bool:
        return not any(o.outcome in ("failed", "invalid") for o in self.outcomes)

    def as_json(self) -> dict[str, Any]:
        elapsed = (self.finished or time.monotonic()) - self.started
        return {
            "counts": dict(self.counts()),
            "elapsed_s": round(elapsed, 3),
            "jobs": [o.__dict__ for o in self.outcomes],
        }


@dataclass(frozen=True)
class _Problem:
    reason: str


def bull_options(opts: dict[str, Any], *, delay_ms: int = 0) -> JobOptions:
    """Bull ``opts`` as ``JobOptions`` (what the workflow's retry policy is built from)."""
    backoff = opts.get("backoff")
    if isinstance(backoff, int | float):
        backoff = {"type": "fixed", "delay": backoff}
    return JobOptions(
        attempts=int(opts["attempts"]) if opts.get("attempts") else None,
        delay_ms=delay_ms,
        priority=int(opts["priority"]) if opts.get("priority") else None,
        backoff=Backoff(backoff.get("type", "fixed"), int(backoff.get("delay") or 0))
        if isinstance(backoff, dict) else None,
        lifo=bool(opts.get("lifo", False)),
        timeout_ms=int(opts["timeout"]) if opts.get("timeout") else None,
    )  # fmt: skip


class Migrator:
    """Moves jobs of the configured queues; one instance per command run."""

    def __init__(
        self,
        settings: Settings,
        redis_client: AsyncRedis,
        temporal: TemporalBackend,
        *,
        on_progress: Callable[[JobOutcome], None] | None = None,
    ) -> None:
        self.settings = settings
        self.redis = redis_client
        self.temporal = temporal
        self.on_progress = on_progress
        self._queues: dict[tuple[str, str], LegacyQueue] = {}

    def legacy_queue(self, config: QueueConfig) -> LegacyQueue:
        """The queue's legacy side; one instance per queue for the migrator's life."""
        key = (config.name, config.legacy)
        if key not in self._queues:
            if config.legacy == "rq":
                redis = self.settings.redis
                self._queues[key] = RQQueue(
                    self.redis, config.name, url=redis.redis_url,
                    serializer=redis.rq_serializer, tls=redis.tls(),
                )  # fmt: skip
            else:
                prefix = self.settings.redis.bull_prefix
                self._queues[key] = BullQueue(self.redis, config.name, prefix=prefix)
        return self._queues[key]

    async def aclose(self) -> None:
        for queue in self._queues.values():
            await queue.aclose()

    async def candidates(
        self, plan: MigrationPlan
    ) -> list[tuple[QueueConfig, LegacyQueue, str, str]]:
        """(queue, legacy queue, job id, state) in processing order, up to ``max_jobs``."""
        found: list[tuple[QueueConfig, LegacyQueue, str, str]] = []
        seen: set[tuple[str, str]] = set()
        for name in plan.queues:
            config = self.settings.queue(name)
            queue = self.legacy_queue(config)
            paused = set(await queue.ids("paused")) if "prioritized" in plan.states else set()
            for state in plan.states:
                for job_id in await queue.ids(state):
                    if (name, job_id) in seen:
                        continue
                    seen.add((name, job_id))
                    if state == "prioritized":  # an index: the job sits in wait or paused
                        state_now = "paused" if job_id in paused else "waiting"
                    else:
                        state_now = state
                    found.append((config, queue, job_id, state_now))
        return found[: plan.max_jobs] if plan.max_jobs else found

    async def run(
        self,
        plan: MigrationPlan,
        jobs: list[tuple[QueueConfig, LegacyQueue, str, str]] | None = None,
    ) -> MigrationReport:
        """Migrate ``jobs`` (default: the plan's ``candidates``, listed now)."""
        report = MigrationReport()
        if not plan.dry_run:
            for name in plan.queues:
                await self._finish_held(self.settings.queue(name), report)
        if jobs is None:
            jobs = await self.candidates(plan)
        limit = asyncio.Semaphore(plan.concurrency)

        async def one(item: tuple[QueueConfig, LegacyQueue, str, str]) -> None:
            async with limit:
                self._record(report, await self.migrate_one(*item, dry_run=plan.dry_run))

        for start in range(0, len(jobs), plan.batch_size):
            await asyncio.gather(*(one(item) for item in jobs[start : start + plan.batch_size]))
            if plan.batch_delay_ms and start + plan.batch_size < len(jobs):
                await asyncio.sleep(plan.batch_delay_ms / 1000)
        for name in plan.queues:  # jobs a worker is running now are not ours to move
            queue = self.legacy_queue(self.settings.queue(name))
            for job_id in await queue.ids("active"):
                reason = "active in a legacy worker; rerun later"
                self._record(report, JobOutcome(name, job_id, "active", "skipped", reason))
        report.finished = time.monotonic()
        return report

    def _record(self, report: MigrationReport, outcome: JobOutcome) -> None:
        report.outcomes.append(outcome)
        if self.on_progress is not None:
            self.on_progress(outcome)

    async def _finish_held(self, config: QueueConfig, report: MigrationReport) -> None:
        """Jobs a killed earlier run held: start (or find) their workflow, then confirm."""
        queue = self.legacy_queue(config)
        for job_id, hold in (await queue.held()).items():
            job = await queue.read(job_id, hold["state"])
            data_json = self._encoded(config, job) if job is not None else _Problem("gone")
            if job is None or isinstance(data_json, _Problem):
                await queue.unhold(job_id)
                continue
            self._record(report, await self._start_and_confirm(config, queue, job, data_json))

    async def migrate_one(
        self, config: QueueConfig, queue: LegacyQueue, job_id: str, state: str, *, dry_run: bool
    ) -> JobOutcome:
        job = await queue.read(job_id, state)
        if job is None:
            return JobOutcome(config.name, job_id, state, "skipped", "job hash is gone")
        data_json = self._encoded(config, job)
        if isinstance(data_json, _Problem):
            return JobOutcome(config.name, job_id, state, "invalid", data_json.reason)
        if dry_run:
            return JobOutcome(config.name, job_id, state, "valid")
        held = await queue.hold(job, config.workflow_id(job_id))
        if held.status != "held":
            reason = {"locked": "active in a legacy worker (locked); left alone",
                      "gone": "removed before it could be held",
                      "moved": f"no longer {state} (taken by a worker?); left alone"}  # fmt: skip
            return JobOutcome(config.name, job_id, state, "skipped", reason[held.status])
        return await self._start_and_confirm(config, queue, job, data_json)

    def _encoded(self, config: QueueConfig, job: LegacyJob) -> str | _Problem:
        """The payload as the workflow will carry it, or why the job cannot migrate."""
        if job.problem:
            return _Problem(job.problem)
        try:
            bull_options(job.opts)
            return encode_payload(
                config.name, job.data, limit=self.settings.routing.max_payload_bytes
            )
        except PayloadError as exc:
            return _Problem(exc.problem)
        except (TypeError, ValueError, AttributeError) as exc:
            return _Problem(f"job options cannot be translated: {exc}")

    async def _start_and_confirm(
        self, config: QueueConfig, queue: LegacyQueue, job: LegacyJob, data_json: str
    ) -> JobOutcome:
        wf_id = config.workflow_id(job.job_id)
        outcome = JobOutcome(config.name, job.job_id, job.state, "failed", workflow_id=wf_id)
        delay = max(0, job.due_ms - now_ms()) if job.due_ms else 0
        request = EnqueueRequest(
            queue=config.name, job_id=job.job_id, job_name=job.name or config.job_name,
            data=job.data, data_json=data_json,
            options=bull_options(job.opts, delay_ms=delay), timestamp_ms=job.timestamp_ms,
            workflow_type=config.workflow_type, task_queue=config.task_queue,
            rq_function=config.rq_function,
        )  # fmt: skip
        try:
            placement = await self.temporal.enqueue(request)
        except NotEnqueuedError as exc:  # definitely not started: the job goes back
            await queue.unhold(job.job_id)
            outcome.reason = f"workflow start failed, job put back: {exc}"
            return outcome
        except EnqueueOutcomeUnknown as exc:
            outcome.reason = f"workflow start outcome unknown, job held; rerun resolves it: {exc}"
            return outcome
        record = {"workflow_id": wf_id, "run_id": placement.run_id, "moved_at": now_ms(),
                  "workflow_type": config.workflow_type, "task_queue": config.task_queue,
                  "existing": placement.existing}  # fmt: skip
        confirmed = await queue.confirm(job.job_id, record)
        outcome.outcome = "moved" if confirmed.status in ("moved", "moved-already") else "failed"
        outcome.reason = "" if outcome.outcome == "moved" else f"confirm: {confirmed.status}"
        outcome.run_id = placement.run_id
        return outcome
