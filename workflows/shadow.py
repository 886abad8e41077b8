"""A shadow run that compares itself with its legacy job once that job has finished.

The legacy job may still be waiting in Bull when the shadow run is done, so the
workflow waits durably: it asks ``queue_router.compare_shadow`` whether the legacy job
has finished, sleeps on a workflow timer (1 s, doubling to at most a minute) and asks
again, until the envelope's ``compare_within_s`` is over; the last ask is ``final``, and
an unfinished legacy job is then recorded as ``ignored``, never as a match. A crash of
the worker loses nothing: the timer and the asks are in the workflow's history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from workflows.envelope import COMPARE_SHADOW, JobEnvelope, JobResult, ShadowCheck

__all__ = ["run_shadow"]

JobRunner = Callable[[JobEnvelope], Awaitable[JobResult]]
_ASK = RetryPolicy(maximum_attempts=5, initial_interval=timedelta(seconds=1))
_LONGEST_PAUSE = timedelta(minutes=1)


async def run_shadow(envelope: JobEnvelope, run: JobRunner) -> JobResult:
    """Run the job side-effect-free, compare, then end as the run did (result or failure)."""
    try:
        result = await run(envelope)
    except ActivityError as exc:
        reason = str(exc.cause) if exc.cause is not None else str(exc)
        await _compare(ShadowCheck(envelope.queue, envelope.job_id, "failed", error=reason),
                       envelope.compare_within_s)  # fmt: skip
        raise
    would = [effect.name for effect in result.effects]
    check = ShadowCheck(envelope.queue, envelope.job_id, "completed", result.result, effects=would)
    await _compare(check, envelope.compare_within_s)
    return result


async def _compare(check: ShadowCheck, within_s: int) -> None:
    deadline = workflow.now() + timedelta(seconds=within_s)
    pause = timedelta(seconds=1)
    while True:
        check.final = workflow.now() >= deadline
        try:
            verdict = await workflow.execute_activity(
                COMPARE_SHADOW, check, result_type=str,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=_ASK,
            )  # fmt: skip
        except ActivityError as exc:  # reported by the activity's own log; never a match
            workflow.logger.warning("shadow comparison of %s gave up: %s", check.job_id, exc)
            return
        if verdict != "pending":
            return
        await workflow.sleep(min(pause, max(deadline - workflow.now(), timedelta(seconds=0))))
        pause = min(pause * 2, _LONGEST_PAUSE)
