"""Trace pipeline: persisting a trace must succeed; costing and summarising are best-effort.

Persistence retries with backoff and fails the workflow if it never succeeds: a trace
that was not stored must be visible as a failure. Cost and summary run afterwards, side
by side, with two attempts each; their failure is recorded as a warning and the trace
is still reported as stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

from workflows.envelope import JobResult
from workflows.jobs import run_step

__all__ = ["TraceInput", "TraceResult", "TraceWorkflow"]


@dataclass
class TraceInput:
    trace_id: str
    spans: list[Any]
    persist_queue: str = "trace-persist"
    cost_queue: str = "trace-cost"
    summary_queue: str = "trace-summary"
    persist_attempts: int = 10


@dataclass
class TraceResult:
    trace_id: str
    persisted: Any
    cost: Any = None
    summary: Any = None
    warnings: list[str] = field(default_factory=list)


@workflow.defn(name="tracePipeline")
class TraceWorkflow:
    @workflow.run
    async def run(self, trace: TraceInput) -> TraceResult:
        persisted = await self._step(
            trace,
            trace.persist_queue,
            {"attempts": trace.persist_attempts, "backoff": {"type": "exponential", "delay": 1000}},
        )
        result = TraceResult(trace.trace_id, persisted.result)
        best_effort = {"attempts": 2, "backoff": {"type": "fixed", "delay": 500}}
        cost, summary = await asyncio.gather(
            self._step(trace, trace.cost_queue, best_effort),
            self._step(trace, trace.summary_queue, best_effort),
            return_exceptions=True,
        )
        for name, outcome in (("cost", cost), ("summary", summary)):
            if isinstance(outcome, ActivityError):
                cause = outcome.cause or outcome
                result.warnings.append(f"{name} step failed (best-effort): {cause}")
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                setattr(result, name, outcome.result)
        return result

    async def _step(self, trace: TraceInput, queue: str, options: dict[str, Any]) -> JobResult:
        data = {"trace_id": trace.trace_id, "spans": trace.spans}
        return await run_step(queue, f"{trace.trace_id}-{queue}", queue, data, options)
