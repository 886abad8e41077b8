"""A Bull (v3/v4) queue read the way Bull's own getters read it."""

from __future__ import annotations

import json
from typing import Any

from redis.exceptions import DataError

from queue_router.connections.redis_client import AsyncRedis
from queue_router.migration.queues import LegacyJob, LegacyQueue

__all__ = ["BullQueue"]

_LISTS = {"waiting": "wait", "paused": "paused", "active": "active"}
_ZSETS = {"delayed": "delayed", "failed": "failed", "completed": "completed"}


class BullQueue(LegacyQueue):
    source = "bull"

    def __init__(self, client: AsyncRedis, queue: str, *, prefix: str = "bull") -> None:
        self.prefix = prefix
        super().__init__(client, queue)

    def key(self, suffix: str) -> str:
        return f"{self.prefix}:{self.queue}:{suffix}"

    def job_key(self, job_id: str) -> str:
        return self.key(job_id)

    async def ids(self, state: str) -> list[str]:
        if state in _LISTS:
            # Workers take from the tail: processing order is the list reversed.
            ids = await self.client.lrange(self.key(_LISTS[state]), 0, -1)
            return [str(i) for i in reversed(ids)]
        if state in _ZSETS:
            return [str(i) for i in await self.client.zrange(self.key(_ZSETS[state]), 0, -1)]
        if state == "prioritized":
            waiting = await self.ids("waiting") + await self.ids("paused")
            prioritized = set(await self.client.zrange(self.key("priority"), 0, -1))
            return [i for i in waiting if i in prioritized]
        raise ValueError(f"unknown Bull state {state!r}")

    async def read(self, job_id: str, state: str) -> LegacyJob | None:
        try:
            raw = await self._hash(self.key(job_id))
        except (DataError, UnicodeDecodeError) as exc:  # shared connection; cluster client
            return LegacyJob(
                "bull", self.queue, job_id, state, problem=f"job hash is not UTF-8 text ({exc})"
            )
        if not raw:
            return None
        job = LegacyJob("bull", self.queue, job_id, state, name=raw.get("name") or "__default__")
        job.timestamp_ms = _int(raw.get("timestamp"))
        job.attempts_made = _int(raw.get("attemptsMade"))
        job.failed_reason = raw.get("failedReason")
        try:
            job.data = json.loads(raw.get("data") or "{}")
            opts = json.loads(raw.get("opts") or "{}")
        except ValueError as exc:
            job.problem = f"job hash holds invalid JSON ({exc})"
            return job
        if not isinstance(opts, dict):
            job.problem = "job opts is not a JSON object"
            return job
        job.opts = opts
        if state == "delayed":
            score = await self.client.zscore(self.key("delayed"), job_id)
            job.due_ms = int(score) // 4096 if score is not None else None
        return job

    async def counts(self) -> dict[str, int]:
        """The same numbers as Bull's ``getJobCounts``, plus prioritized and held."""
        c = self.client
        return {
            "waiting": await c.llen(self.key("wait")),
            "paused": await c.llen(self.key("paused")),
            "active": await c.llen(self.key("active")),
            "delayed": await c.zcard(self.key("delayed")),
            "completed": await c.zcard(self.key("completed")),
            "failed": await c.zcard(self.key("failed")),
            "prioritized": await c.zcard(self.key("priority")),
            "held": await c.hlen(self.hold_key),
        }

    async def finished_since(self, since_ms: int) -> tuple[int, int]:
        done = await self.client.zcount(self.key("completed"), since_ms, "+inf")
        failed = await self.client.zcount(self.key("failed"), since_ms, "+inf")
        return int(done), int(failed)

    async def lock_ttl_ms(self, job_id: str) -> int:
        """Remaining lock of an active job; <= 0 means no live worker holds it."""
        return int(await self.client.pttl(self.key(f"{job_id}:lock")))


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0
