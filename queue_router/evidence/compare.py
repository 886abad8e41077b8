"""Shadow comparison: the legacy job's outcome, read where Bull or RQ keeps it, against the
shadow run's, including the side effects each performed or would have performed.

Comparing results alone misses the worst divergence: an email the legacy processor sent
and the Temporal one would not send (or the reverse). So an outcome is a state
(``completed``/``failed``), a value and the names of its effects. The legacy side's
effects are the ones its runs claimed (``effects_index_key``, written by the claim
protocol); the shadow's are the ones it recorded as suppressed.
"""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

import redis
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from queue_router.connections.redis_client import AsyncRedis
from queue_router.errors import ConfigError
from queue_router.processors.effects import effects_index_key
from workflows.envelope import ShadowCheck

__all__ = ["LegacyOutcome", "bull_outcome", "compare", "load_compare", "rq_outcome"]

Verdict = Literal["match", "mismatch", "ignored"]
Compare = Callable[[Any, Any], bool]


@dataclass(frozen=True, slots=True)
class LegacyOutcome:
    state: Literal["completed", "failed", "pending", "gone"]
    value: Any = None
    error: str = ""
    effects: list[str] = field(default_factory=list)


def shown(side: LegacyOutcome | ShadowCheck) -> dict[str, Any]:
    """One side of a comparison as the mismatch stream stores it."""
    return {"state": side.state, "value": side.value, "error": side.error,
            "effects": side.effects}  # fmt: skip


async def legacy_effects(client: AsyncRedis, queue: str, job_id: str) -> list[str]:
    return sorted(str(name) for name in await client.smembers(effects_index_key(queue, job_id)))


async def bull_outcome(client: AsyncRedis, prefix: str, queue: str, job_id: str) -> LegacyOutcome:
    """Where Bull keeps a finished job: ``completed``/``failed`` zsets and the job hash."""
    base = f"{prefix}:{queue}"
    if await client.zscore(f"{base}:completed", job_id) is not None:
        text = await client.hget(f"{base}:{job_id}", "returnvalue")
        if text is None:  # completed, then removed between the two reads
            return LegacyOutcome("gone")
        effects = await legacy_effects(client, queue, job_id)
        return LegacyOutcome("completed", json.loads(text), effects=effects)
    if await client.zscore(f"{base}:failed", job_id) is not None:
        reason = str(await client.hget(f"{base}:{job_id}", "failedReason") or "")
        return LegacyOutcome("failed", error=reason,
                             effects=await legacy_effects(client, queue, job_id))  # fmt: skip
    if await client.exists(f"{base}:{job_id}"):
        return LegacyOutcome("pending")
    return LegacyOutcome("gone")


async def rq_outcome(
    connection: redis.Redis, client: AsyncRedis, serializer: str, queue: str, job_id: str
) -> LegacyOutcome:
    """An RQ job's status and latest result (our ``run_rq_job`` returns a ``JobResult``)."""

    def read() -> LegacyOutcome:
        try:
            job = Job.fetch(job_id, connection=connection, serializer=serializer)
        except NoSuchJobError:
            return LegacyOutcome("gone")
        status = job.get_status(refresh=False)
        if status == JobStatus.FINISHED:
            value = job.return_value()
            if isinstance(value, dict) and "result" in value and "effects" in value:
                value = value["result"]  # a JobResult: compare what the processor returned
            return LegacyOutcome("completed", value)
        if status == JobStatus.FAILED:
            latest = job.latest_result()
            trace = (latest.exc_string or "") if latest is not None else ""
            return LegacyOutcome("failed", error=_last_line(trace))
        return LegacyOutcome("pending")

    outcome = await asyncio.to_thread(read)
    if outcome.state in ("completed", "failed"):
        effects = await legacy_effects(client, queue, job_id)
        outcome = LegacyOutcome(outcome.state, outcome.value, outcome.error, effects)
    return outcome


def _last_line(text: str) -> str:
    """The exception line of a traceback."""
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


@cache
def load_compare(path: str) -> Compare:
    """``"myapp.compare:fn"`` (or ``"myapp.compare.fn"``) as a callable."""
    module_name, _, name = path.partition(":") if ":" in path else path.rpartition(".")
    try:
        func = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"compare function {path!r} cannot be loaded: {exc}") from exc
    if not callable(func):
        raise ConfigError(f"compare function {path!r} is not callable")
    return func  # type: ignore[no-any-return]


def _without(value: Any, ignore: frozenset[str]) -> Any:
    """``value`` with the ignored keys dropped at every depth."""
    if isinstance(value, dict):
        return {k: _without(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [_without(v, ignore) for v in value]
    return value


def compare(
    legacy: LegacyOutcome,
    shadow: ShadowCheck,
    *,
    compare_fn: Compare | None = None,
    ignore: Iterable[str] = (),
    effects: bool = True,
) -> tuple[Verdict, str]:
    """The verdict and why. An unfinished or vanished legacy job is never a match."""
    if legacy.state == "gone":
        return "ignored", legacy.error or "legacy job not found: removed on completion, or expired"
    if legacy.state == "pending":
        return "ignored", "legacy job did not finish within the comparison window"
    if legacy.state != shadow.state:
        why = legacy.error or shadow.error
        return "mismatch", f"legacy {legacy.state}, temporal {shadow.state}: {why}"
    if legacy.state == "completed":
        if compare_fn is not None:
            same = bool(compare_fn(legacy.value, shadow.value))
        else:
            dropped = frozenset(ignore)
            same = _without(legacy.value, dropped) == _without(shadow.value, dropped)
        if not same:
            return "mismatch", "results differ"
    if effects and sorted(set(legacy.effects)) != sorted(set(shadow.effects)):
        return "mismatch", (
            f"effects differ: legacy performed {sorted(set(legacy.effects))}, temporal would "
            f"perform {sorted(set(shadow.effects))}"
        )
    return "match", ""
