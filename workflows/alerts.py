"""Alert evaluation loop: evaluate on an interval or on demand, notify on each transition.

The evaluation is the processor on ``evaluate_queue`` (it returns truthy when the alert
should fire, or ``{"firing": bool, ...}``); a change between ``ok`` and ``firing`` runs
the processor on ``notify_queue`` once per transition (its job id counts transitions,
so a replayed or retried notification is claimed, not repeated). The loop continues as
new after ``max_evaluations_per_run`` evaluations, or earlier when Temporal suggests it,
carrying its state, so its history never grows without bound.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from temporalio import workflow

from workflows.jobs import run_step

__all__ = ["AlertInput", "AlertStatus", "AlertWorkflow"]

_STEP_OPTIONS = {"attempts": 3, "backoff": {"type": "exponential", "delay": 1000}}


@dataclass
class AlertInput:
    alert_id: str
    evaluate_queue: str
    notify_queue: str | None = None
    interval_s: float = 60.0
    max_evaluations_per_run: int = 500
    state: str = "ok"
    """Carried across continue-as-new: ``ok`` or ``firing``."""
    evaluations: int = 0
    transitions: int = 0


@dataclass
class AlertStatus:
    alert_id: str
    state: str
    evaluations: int
    transitions: int
    evaluations_this_run: int
    last_value: Any = None


@workflow.defn(name="alertEvaluation")
class AlertWorkflow:
    @workflow.init
    def __init__(self, alert: AlertInput) -> None:
        self._alert = alert
        self._wake = False
        self._stopping = False
        self._this_run = 0
        self._last_value: Any = None

    @workflow.signal
    def evaluate_now(self) -> None:
        self._wake = True

    @workflow.signal
    def stop(self) -> None:
        self._stopping = True

    @workflow.query
    def status(self) -> AlertStatus:
        a = self._alert
        return AlertStatus(
            a.alert_id, a.state, a.evaluations, a.transitions, self._this_run, self._last_value
        )

    @workflow.run
    async def run(self, alert: AlertInput) -> AlertStatus:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):  # the interval elapsed: evaluate
                await workflow.wait_condition(
                    lambda: self._wake or self._stopping,
                    timeout=timedelta(seconds=alert.interval_s),
                )
            if self._stopping:
                break
            self._wake = False
            await self._evaluate()
            if (
                self._this_run >= alert.max_evaluations_per_run
                or workflow.info().is_continue_as_new_suggested()
            ):
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._alert)
        return self.status()

    async def _evaluate(self) -> None:
        a = self._alert
        result = await run_step(
            a.evaluate_queue, f"{a.alert_id}-eval-{a.evaluations}", "alert-evaluate",
            {"alert_id": a.alert_id, "state": a.state}, _STEP_OPTIONS,
        )  # fmt: skip
        self._last_value = result.result
        firing = result.result.get("firing") if isinstance(result.result, dict) else result.result
        new_state = "firing" if firing else "ok"
        self._this_run += 1
        if new_state != a.state:
            transitions = a.transitions + 1
            if a.notify_queue:
                await run_step(
                    a.notify_queue, f"{a.alert_id}-transition-{transitions}", "alert-transition",
                    {"alert_id": a.alert_id, "from": a.state, "to": new_state,
                     "value": result.result},
                    _STEP_OPTIONS,
                )  # fmt: skip
            a = replace(a, state=new_state, transitions=transitions)
        self._alert = replace(a, evaluations=a.evaluations + 1)
