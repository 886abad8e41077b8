"""``queue-router rollout``: the loop that applies ``rollout.assess`` interval by interval.

It changes a queue only through the runtime control (every change audited, every router
instance following within 2 s) and holds ``queue-router:rollout:<queue>:lease`` while it
runs, renewed every interval, so a second controller for the queue refuses to start.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from queue_router.config import Settings
from queue_router.control import RuntimeControl, who
from queue_router.errors import QueueRouterError
from queue_router.evidence.ledger import Evidence, RunStats
from queue_router.evidence.rollout import Assessment, Thresholds, assess, next_step
from queue_router.redis_client import AsyncRedis
from queue_router.routing import Mode

__all__ = ["LeaseHeld", "RolloutController", "bull_runs"]

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseHeld(QueueRouterError):
    """Another controller runs this queue's rollout."""


async def bull_runs(
    client: AsyncRedis, prefix: str, queue: str, *, since: float | None = None,
    until: float | None = None, latest: int | None = None,
) -> RunStats:  # fmt: skip
    """Finished Bull jobs from Bull's own ``completed``/``failed`` sets (score = finishedOn).

    Either those finished from ``since`` to ``until``, or the ``latest`` ones. Run time is
    ``finishedOn - processedOn`` of the job hash; jobs removed on completion are not seen.
    """
    base = f"{prefix}:{queue}"
    found: list[tuple[float, str, bool]] = []
    for state, ok in (("completed", True), ("failed", False)):
        key = f"{base}:{state}"
        if latest is not None:
            rows: list[tuple[str, float]] = await client.zrevrange(
                key, 0, latest - 1, withscores=True
            )  # type: ignore[assignment]
        else:
            low = "-inf" if since is None else int(since * 1000)
            high = "+inf" if until is None else int(until * 1000)
            rows = await client.zrangebyscore(key, low, high, withscores=True)  # type: ignore[assignment]
        found.extend((float(score), str(job_id), ok) for job_id, score in rows)
    if latest is not None:
        found = sorted(found, reverse=True)[:latest]
    durations, failed = [], 0
    for _, job_id, ok in found:
        times = await client.hmget(f"{base}:{job_id}", ["processedOn", "finishedOn"])
        processed, finished = times[0], times[1]
        if processed and finished:
            durations.append(float(finished) - float(processed))
        failed += not ok
    return RunStats(len(found), failed, tuple(durations))


@dataclass
class RolloutController:
    settings: Settings
    queue: str
    steps: list[float]
    every_s: float
    limits: Thresholds
    client: AsyncRedis
    dry_run: bool = False
    emit: Callable[[dict[str, Any]], None] = print

    def __post_init__(self) -> None:
        self.control = RuntimeControl(self.client)
        self.evidence = Evidence(self.client)
        self.holder = f"{who()} pid {os.getpid()}"
        self.lease_key = f"queue-router:rollout:{self.queue}:lease"
        self.by = f"rollout-controller {self.holder}"

    @property
    def _lease_ms(self) -> int:
        return int((self.every_s * 3 + 30) * 1000)

    async def run(self) -> int:
        """0 when the last step was healthy, 1 after a rollback (``LeaseHeld`` if busy)."""
        if not self.dry_run and not await self._take_lease():
            holder = str(await self.client.get(self.lease_key))
            raise LeaseHeld(f"the rollout of {self.queue} is already run by {holder} "
                            f"(lease {self.lease_key})")  # fmt: skip
        try:
            return await self._steps()
        finally:
            if not self.dry_run:
                await self.client.eval(_RELEASE, 1, self.lease_key, self.holder)

    async def _take_lease(self) -> bool:
        return bool(await self.client.set(self.lease_key, self.holder, nx=True,
                                          px=self._lease_ms))  # fmt: skip

    async def _extend_lease(self) -> bool:
        extended = self.client.eval(_EXTEND, 1, self.lease_key, self.holder, self._lease_ms)
        return bool(await extended)

    async def _steps(self) -> int:
        state = await self.control.read()
        config = state.config_of(self.settings.queue(self.queue))
        current = config.percentage if config.mode is Mode.PERCENTAGE else 0.0
        index, is_set = next_step(self.steps, current)
        live = state.queues.get(self.queue)
        step_started = live.updated_at if is_set and live is not None else time.time()
        while True:
            step = self.steps[index]
            label = f"step {index + 1}/{len(self.steps)} ({step:g}%)"
            if not is_set:
                await self._set(step, f"rollout {label}")
                step_started, is_set = time.time(), True
            await self._sleep()
            verdict = await self._assess(step_started)
            self._report(label, step, verdict)
            if verdict.decision == "trip":
                await self._set(0.0, "rollout tripped at " + label + ": "
                                + "; ".join(verdict.reasons), source="guard")  # fmt: skip
                return 1
            if verdict.decision == "healthy":
                if index == len(self.steps) - 1:
                    return 0
                index, is_set = index + 1, False

    async def _set(self, percentage: float, reason: str, source: str = "live") -> None:
        self.emit({"event": "set", "queue": self.queue, "percentage": percentage,
                   "reason": reason, "dry_run": self.dry_run})  # fmt: skip
        if not self.dry_run:
            await self.control.set(self.queue, mode=Mode.PERCENTAGE.value, percentage=percentage,
                                   reason=reason, by=self.by, source=source)  # fmt: skip

    async def _sleep(self) -> None:
        """One interval, renewing the lease on the way (at least every 5 s)."""
        deadline = time.monotonic() + self.every_s
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 5.0))
            if not self.dry_run and not await self._extend_lease():
                raise LeaseHeld(f"lost the rollout lease of {self.queue} ({self.lease_key})")

    async def _assess(self, step_started: float) -> Assessment:
        now = time.time()
        window = now - self.every_s
        need = self.limits.min_samples
        temporal = await self.evidence.runs(self.queue, "temporal", window, now)
        if temporal.jobs < need:
            temporal = await self.evidence.runs(self.queue, "temporal", step_started, now)
        legacy = await self._legacy(since=window, until=now)
        if legacy.jobs < need:
            legacy = await self._legacy(latest=need)
        shadow = await self.evidence.shadow_counts(self.queue, step_started)
        state = await self.control.read()
        guard_open = (state.guard_open_until or 0) > now
        return assess(temporal, legacy, shadow, guard_open=guard_open, limits=self.limits)

    async def _legacy(
        self, *, since: float | None = None, until: float | None = None, latest: int | None = None
    ) -> RunStats:
        config = self.settings.queue(self.queue)
        if config.legacy == "bull":
            prefix = self.settings.redis.bull_prefix
            return await bull_runs(self.client, prefix, self.queue, since=since, until=until,
                                   latest=latest)  # fmt: skip
        if latest is not None:
            return await self.evidence.latest_runs(self.queue, config.legacy, latest)
        return await self.evidence.runs(self.queue, config.legacy, since, until)

    def _report(self, label: str, step: float, verdict: Assessment) -> None:
        self.emit({"event": "check", "queue": self.queue, "step": label, "percentage": step,
                   "decision": verdict.decision, "reasons": verdict.reasons,
                   "figures": {k: round(v, 4) for k, v in verdict.figures.items()},
                   "dry_run": self.dry_run})  # fmt: skip


def text_line(event: dict[str, Any]) -> str:
    """One event as an operator reads it."""
    if event["event"] == "set":
        verb = "would set" if event["dry_run"] else "set"
        return f"{event['queue']}: {verb} {event['percentage']:g}% ({event['reason']})"
    f = event["figures"]
    head = f"{event['queue']} {event['step']}: {event['decision']}"
    figures = (f"temporal {f['temporal_jobs']:.0f} jobs, {f['temporal_error_rate']:.2%} errors, "
               f"p99 {f['temporal_p99_ms']:.0f} ms | legacy {f['legacy_jobs']:.0f} jobs, "
               f"{f['legacy_error_rate']:.2%} errors, p99 {f['legacy_p99_ms']:.0f} ms")  # fmt: skip
    reasons = f" - {'; '.join(event['reasons'])}" if event["reasons"] else ""
    return f"{head}: {figures}{reasons}"


def json_line(event: dict[str, Any]) -> str:
    return json.dumps(event)
