"""The rollout of one queue from its legacy backend to Temporal, as a ``RampTarget``.

Its share is the queue's live percentage (set through the runtime control, so every
router instance follows within 2 s, and audited). Its evidence: Temporal's finished jobs
as our workers record them (``ledger``), the legacy side's from our RQ workers' records
or, for Node Bull, from Bull's own ``completed``/``failed`` sets; the queue's shadow
comparisons; and the shared rollback guard.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from queue_router.config import Settings
from queue_router.connections.redis_client import AsyncRedis
from queue_router.control import RuntimeControl
from queue_router.evidence.ledger import Evidence, RunStats
from queue_router.evidence.rollout import Assessment, Thresholds, assess
from queue_router.routing import Mode

__all__ = ["QueueRamp", "bull_runs"]


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
    pipe = client.pipeline(transaction=False)  # one round trip for every job hash
    for _, job_id, _ in found:
        pipe.hmget(f"{base}:{job_id}", ["processedOn", "finishedOn"])
    times = await pipe.execute() if found else []
    durations = [float(finished) - float(processed)
                 for processed, finished in times if processed and finished]  # fmt: skip
    failed = sum(1 for _, _, ok in found if not ok)
    return RunStats(len(found), failed, tuple(durations))


@dataclass
class QueueRamp:
    settings: Settings
    queue: str
    client: AsyncRedis
    kind: str = "rollout"
    control: RuntimeControl = field(init=False)
    evidence: Evidence = field(init=False)

    def __post_init__(self) -> None:
        self.subject = self.queue
        self.control = RuntimeControl(self.client)
        self.evidence = Evidence(self.client)

    async def position(self) -> tuple[float, float | None]:
        state = await self.control.read()
        config = state.config_of(self.settings.queue(self.queue))
        live = state.queues.get(self.queue)
        share = config.percentage if config.mode is Mode.PERCENTAGE else 0.0
        return share, live.updated_at if live is not None else None

    async def apply(self, share: float, reason: str, by: str) -> None:
        await self.control.set(self.queue, mode=Mode.PERCENTAGE.value, percentage=share,
                               reason=reason, by=by)  # fmt: skip

    async def undo(self, reason: str, by: str) -> None:
        await self.control.set(self.queue, mode=Mode.PERCENTAGE.value, percentage=0.0,
                               reason=reason, by=by, source="guard")  # fmt: skip

    async def judge(self, since: float, window_s: float, limits: Thresholds) -> Assessment:
        now = time.time()
        need = limits.min_samples
        temporal = await self.evidence.runs(self.queue, "temporal", now - window_s, now)
        if temporal.jobs < need:
            temporal = await self.evidence.runs(self.queue, "temporal", since, now)
        legacy = await self._legacy(since=now - window_s, until=now)
        if legacy.jobs < need:
            legacy = await self._legacy(latest=need)
        shadow = await self.evidence.shadow_counts(self.queue, since)
        state = await self.control.read()
        guard_open = (state.guard_open_until or 0) > now
        return assess(temporal, legacy, shadow, guard_open=guard_open, limits=limits)

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
