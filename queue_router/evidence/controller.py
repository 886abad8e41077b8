"""The ramp loop shared by ``queue-router rollout`` and ``queue-router worker-ramp``.

Both step a share up (of a queue's jobs to Temporal; of Temporal's work to a new worker
build), check after each interval that the new side is as healthy as the old with the
same ``rollout.assess``, and undo the change by themselves on a failed check. What they
step and where they read their figures is a ``RampTarget``; the loop, the lease
(``queue-router:<kind>:<subject>:lease``, renewed every interval, so a second controller
refuses to start) and the report lines are here.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from queue_router.connections.redis_client import AsyncRedis
from queue_router.control import who
from queue_router.errors import QueueRouterError
from queue_router.evidence.rollout import Assessment, Thresholds, next_step

__all__ = ["LeaseHeld", "Ramp", "RampTarget", "json_line", "text_line"]

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseHeld(QueueRouterError):
    """Another controller runs this ramp."""


class RampTarget(Protocol):
    """What a ramp steps, and the evidence it is judged on."""

    kind: str
    """``rollout`` or ``worker-ramp``: names the lease and the report."""
    subject: str
    """The queue, or the deployment and build."""

    async def position(self) -> tuple[float, float | None]:
        """The share the new side has now, and since when (None: unknown)."""

    async def apply(self, share: float, reason: str, by: str) -> None:
        """Give the new side ``share`` percent (100: make it the whole)."""

    async def judge(self, since: float, window_s: float, limits: Thresholds) -> Assessment:
        """How the new side did against the old, from ``since`` or the last window."""

    async def undo(self, reason: str, by: str) -> None:
        """Back to the old side entirely, after a failed check."""


@dataclass
class Ramp:
    target: RampTarget
    steps: list[float]
    every_s: float
    limits: Thresholds
    client: AsyncRedis
    """Redis, for the lease."""
    dry_run: bool = False
    emit: Callable[[dict[str, Any]], None] = print

    def __post_init__(self) -> None:
        self.holder = f"{who()} pid {os.getpid()}"
        self.lease_key = f"queue-router:{self.target.kind}:{self.target.subject}:lease"
        self.by = f"{self.target.kind}-controller {self.holder}"

    @property
    def _lease_ms(self) -> int:
        return int((self.every_s * 3 + 30) * 1000)

    async def run(self) -> int:
        """0 when the last step was healthy, 1 after an undo (``LeaseHeld`` if busy)."""
        if not self.dry_run and not await self._take_lease():
            holder = str(await self.client.get(self.lease_key))
            raise LeaseHeld(f"the {self.target.kind} of {self.target.subject} is already run "
                            f"by {holder} (lease {self.lease_key})")  # fmt: skip
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
        current, since = await self.target.position()
        index, is_set = next_step(self.steps, current)
        step_started = since if is_set and since is not None else time.time()
        while True:
            step = self.steps[index]
            label = f"step {index + 1}/{len(self.steps)} ({step:g}%)"
            if not is_set:
                await self._apply(step, f"{self.target.kind} {label}")
                step_started, is_set = time.time(), True
            await self._sleep()
            verdict = await self.target.judge(step_started, self.every_s, self.limits)
            self._report(label, step, verdict)
            if verdict.decision == "trip":
                reason = f"{self.target.kind} tripped at {label}: " + "; ".join(verdict.reasons)
                self.emit({"event": "undo", "subject": self.target.subject, "reason": reason,
                           "dry_run": self.dry_run})  # fmt: skip
                if not self.dry_run:
                    await self.target.undo(reason, self.by)
                return 1
            if verdict.decision == "healthy":
                if index == len(self.steps) - 1:
                    return 0
                index, is_set = index + 1, False

    async def _apply(self, share: float, reason: str) -> None:
        self.emit({"event": "set", "subject": self.target.subject, "percentage": share,
                   "reason": reason, "dry_run": self.dry_run})  # fmt: skip
        if not self.dry_run:
            await self.target.apply(share, reason, self.by)

    async def _sleep(self) -> None:
        """One interval, renewing the lease on the way (at least every 5 s)."""
        deadline = time.monotonic() + self.every_s
        while (left := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(left, 5.0))
            if not self.dry_run and not await self._extend_lease():
                raise LeaseHeld(f"lost the {self.target.kind} lease ({self.lease_key})")

    def _report(self, label: str, step: float, verdict: Assessment) -> None:
        self.emit({"event": "check", "subject": self.target.subject, "step": label,
                   "percentage": step, "decision": verdict.decision, "reasons": verdict.reasons,
                   "figures": {k: round(v, 4) for k, v in verdict.figures.items()},
                   "dry_run": self.dry_run})  # fmt: skip


def text_line(event: dict[str, Any]) -> str:
    """One event as an operator reads it."""
    would = "would " if event["dry_run"] else ""
    if event["event"] == "set":
        return f"{event['subject']}: {would}set {event['percentage']:g}% ({event['reason']})"
    if event["event"] == "undo":
        return f"{event['subject']}: {would}undo: {event['reason']}"
    figures = ", ".join(f"{k} {v:g}" for k, v in event["figures"].items())
    reasons = f" - {'; '.join(event['reasons'])}" if event["reasons"] else ""
    return f"{event['subject']} {event['step']}: {event['decision']} ({figures}){reasons}"


def json_line(event: dict[str, Any]) -> str:
    return json.dumps(event)
