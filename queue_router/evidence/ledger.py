"""The rollout evidence every worker and router writes to Redis, and the readers of it.

A rollout is decided on numbers that outlive any one process: the controller, the
``shadow-report`` and ``reconcile`` commands read what the workers and routers wrote,
never their own memory. Everything is a capped Redis stream, so entries carry their
time in their id and a reader asks for "since T" with one ``XRANGE``:

- ``queue-router:runs:<queue>``: one entry per finished job run of our processors
  (``side`` = ``temporal``/``rq``, ``ok`` = 1/0, ``ms``); shadow runs are not counted;
- ``queue-router:shadow:<queue>``: one entry per shadow comparison (``result`` =
  ``match``/``mismatch``/``ignored``, ``job_id``, ``reason``) and one per batch of shadow
  copies a router dropped (``result`` = ``dropped``, ``count``);
- ``queue-router:shadow:<queue>:mismatches``: the latest mismatches with both values;
- ``queue-router:dual:<queue>``: one entry per dual-write side that failed, with the job
  as it was enqueued, until ``reconcile`` repairs it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from queue_router.connections.redis_client import AsyncRedis

__all__ = ["DualFailure", "Evidence", "Mismatch", "RunStats", "ShadowCounts"]

RUNS_LENGTH = 200_000
COMPARISONS_LENGTH = 200_000
MISMATCHES_LENGTH = 1_000
DUAL_LENGTH = 1_000_000
"""Generous: an entry trimmed from here is a dual-write nobody will repair."""
_PAGE = 5_000


def runs_key(queue: str) -> str:
    return f"queue-router:runs:{queue}"


def shadow_key(queue: str) -> str:
    return f"queue-router:shadow:{queue}"


def mismatches_key(queue: str) -> str:
    return f"queue-router:shadow:{queue}:mismatches"


def dual_key(queue: str) -> str:
    return f"queue-router:dual:{queue}"


@dataclass(frozen=True, slots=True)
class RunStats:
    """Finished jobs of one side in a window: how many, how many failed, how long."""

    jobs: int = 0
    failed: int = 0
    durations_ms: tuple[float, ...] = ()

    @property
    def error_rate(self) -> float:
        return self.failed / self.jobs if self.jobs else 0.0

    @property
    def p99_ms(self) -> float:
        """Nearest-rank 99th percentile; 0 without samples."""
        if not self.durations_ms:
            return 0.0
        ordered = sorted(self.durations_ms)
        rank = max(0, -(-99 * len(ordered) // 100) - 1)
        return ordered[rank]


@dataclass(frozen=True, slots=True)
class ShadowCounts:
    matched: int = 0
    mismatched: int = 0
    ignored: int = 0
    dropped: int = 0

    @property
    def compared(self) -> int:
        """Comparisons with a verdict; ``ignored`` ones are not compared."""
        return self.matched + self.mismatched

    @property
    def mismatch_rate(self) -> float:
        return self.mismatched / self.compared if self.compared else 0.0


@dataclass(frozen=True, slots=True)
class Mismatch:
    job_id: str
    legacy: Any
    temporal: Any
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class DualFailure:
    entry_id: str
    queue: str
    job_id: str
    side: str
    """The backend that does not hold the job."""
    error: str
    request: dict[str, Any]
    """The job as it was enqueued (``EnqueueRequest`` fields), to write the missing side."""


def _ms(entry_id: str) -> float:
    return int(entry_id.split("-", 1)[0]) / 1000


class Evidence:
    """Writes and reads the evidence streams in one Redis (``decode_responses=True``)."""

    def __init__(self, client: AsyncRedis) -> None:
        self._redis = client

    async def aclose(self) -> None:
        await self._redis.aclose()

    # --- writers ----------------------------------------------------------------------
    async def record_run(self, queue: str, side: str, *, ok: bool, seconds: float) -> None:
        fields: dict[Any, Any] = {"side": side, "ok": int(ok), "ms": f"{seconds * 1000:.3f}"}
        await self._redis.xadd(runs_key(queue), fields, maxlen=RUNS_LENGTH, approximate=True)

    async def record_comparison(
        self, queue: str, job_id: str, result: str, reason: str, *, legacy: Any, temporal: Any
    ) -> None:
        fields: dict[Any, Any] = {"result": result, "job_id": job_id, "reason": reason}
        await self._redis.xadd(
            shadow_key(queue), fields, maxlen=COMPARISONS_LENGTH, approximate=True
        )
        if result == "mismatch":
            both: dict[Any, Any] = {
                "job_id": job_id, "reason": reason,
                "legacy": json.dumps(legacy, default=str),
                "temporal": json.dumps(temporal, default=str),
            }  # fmt: skip
            await self._redis.xadd(
                mismatches_key(queue), both, maxlen=MISMATCHES_LENGTH, approximate=True
            )

    async def record_dropped(self, queue: str, count: int) -> None:
        fields: dict[Any, Any] = {"result": "dropped", "count": count}
        await self._redis.xadd(
            shadow_key(queue), fields, maxlen=COMPARISONS_LENGTH, approximate=True
        )

    async def record_dual_failure(
        self, queue: str, job_id: str, side: str, error: str, request: dict[str, Any]
    ) -> None:
        fields: dict[Any, Any] = {
            "job_id": job_id, "side": side, "error": error,
            "request": json.dumps(request, default=str),
        }  # fmt: skip
        await self._redis.xadd(dual_key(queue), fields, maxlen=DUAL_LENGTH, approximate=True)

    # --- readers ----------------------------------------------------------------------
    async def _entries(
        self, key: str, since: float | None, until: float | None = None
    ) -> AsyncIterator[tuple[str, dict[str, str]]]:
        """Entries from ``since`` to ``until`` (epoch seconds), paged."""
        start = "-" if since is None else str(int(since * 1000))
        end = "+" if until is None else str(int(until * 1000))
        while True:
            page: list[tuple[str, dict[str, str]]] = await self._redis.xrange(
                key, start, end, count=_PAGE
            )  # type: ignore[assignment]
            for entry in page:
                yield entry
            if len(page) < _PAGE:
                return
            start = "(" + page[-1][0]

    async def runs(
        self, queue: str, side: str, since: float | None, until: float | None = None
    ) -> RunStats:
        jobs = failed = 0
        durations: list[float] = []
        async for _, fields in self._entries(runs_key(queue), since, until):
            if fields.get("side") != side:
                continue
            jobs += 1
            failed += fields.get("ok") == "0"
            durations.append(float(fields.get("ms", 0)))
        return RunStats(jobs, failed, tuple(durations))

    async def latest_runs(self, queue: str, side: str, count: int) -> RunStats:
        """The latest ``count`` runs of ``side``, however old (a baseline at 100%)."""
        jobs = failed = 0
        durations: list[float] = []
        end = "+"
        while jobs < count:
            page: list[tuple[str, dict[str, str]]] = await self._redis.xrevrange(
                runs_key(queue), end, "-", count=_PAGE
            )  # type: ignore[assignment]
            for _, fields in page:
                if fields.get("side") == side and jobs < count:
                    jobs += 1
                    failed += fields.get("ok") == "0"
                    durations.append(float(fields.get("ms", 0)))
            if len(page) < _PAGE:
                break
            end = "(" + page[-1][0]
        return RunStats(jobs, failed, tuple(durations))

    async def shadow_counts(self, queue: str, since: float | None) -> ShadowCounts:
        counts = {"match": 0, "mismatch": 0, "ignored": 0, "dropped": 0}
        async for _, fields in self._entries(shadow_key(queue), since):
            result = fields.get("result", "")
            if result in counts:
                counts[result] += int(fields.get("count", 1))
        return ShadowCounts(counts["match"], counts["mismatch"], counts["ignored"],
                            counts["dropped"])  # fmt: skip

    async def mismatches(self, queue: str, since: float | None, count: int) -> list[Mismatch]:
        """The latest ``count`` mismatches since ``since``, newest first."""
        end, start = "+", "-" if since is None else str(int(since * 1000))
        entries: list[tuple[str, dict[str, str]]] = await self._redis.xrevrange(
            mismatches_key(queue), end, start, count=count
        )  # type: ignore[assignment]
        return [
            Mismatch(f["job_id"], json.loads(f["legacy"]), json.loads(f["temporal"]),
                     f.get("reason", ""), _ms(entry_id))
            for entry_id, f in entries
        ]  # fmt: skip

    async def dual_failures(self, queue: str) -> list[DualFailure]:
        found = []
        async for entry_id, f in self._entries(dual_key(queue), None):
            found.append(DualFailure(entry_id, queue, f["job_id"], f["side"], f["error"],
                                     json.loads(f["request"])))  # fmt: skip
        return found

    async def repaired(self, failure: DualFailure) -> None:
        """Forget a dual-write failure once its missing side is written (or moot)."""
        await self._redis.xdel(dual_key(failure.queue), failure.entry_id)
