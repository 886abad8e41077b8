"""An RQ queue read without side effects (registries with ``cleanup=False``).

A job the router wrote (``meta["queue_router"]``) migrates with its original data, name
and Bull options; any other RQ job migrates as ``{"func", "args", "kwargs"}``, so its
processor can still tell what the legacy call was.
"""

from __future__ import annotations

import asyncio
from datetime import UTC
from typing import Any

import redis
from rq.job import Job
from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

from activities.legacy import attempt_of
from queue_router.connections.redis_client import AsyncRedis, RedisTLS, tls_kwargs
from queue_router.migration.queues import LegacyJob, LegacyQueue

__all__ = ["RQQueue"]

_STRUCTURAL = {"wait": "rq:queue:{q}", "delayed": "rq:scheduled:{q}", "failed": "rq:failed:{q}",
               "active": "rq:wip:{q}", "": "rq:queue:{q}:"}  # fmt: skip


class RQQueue(LegacyQueue):
    source = "rq"

    def __init__(
        self,
        client: AsyncRedis,
        queue: str,
        *,
        url: str,
        serializer: str = "pickle",
        tls: RedisTLS | None = None,
    ) -> None:
        super().__init__(client, queue)
        self._sync = redis.Redis.from_url(url, **tls_kwargs(tls))
        self.serializer = serializer

    def key(self, suffix: str) -> str:
        template = _STRUCTURAL.get(suffix, "rq:queue:{q}:qr-" + suffix)
        return template.format(q=self.queue)

    def job_key(self, job_id: str) -> str:
        return f"rq:job:{job_id}"

    async def aclose(self) -> None:
        await super().aclose()
        await asyncio.to_thread(self._sync.close)

    async def ids(self, state: str) -> list[str]:
        if state == "waiting":
            return [str(i) for i in await self.client.lrange(self.key("wait"), 0, -1)]
        registries = {"delayed": ScheduledJobRegistry, "failed": FailedJobRegistry,
                      "active": StartedJobRegistry}  # fmt: skip
        if state in registries:
            registry = registries[state](
                self.queue, connection=self._sync, serializer=self.serializer
            )
            ids = await asyncio.to_thread(registry.get_job_ids, cleanup=False)
            return [i.split(":", 1)[0] for i in ids]  # started entries are <job>:<execution>
        if state in ("paused", "prioritized"):
            return []  # RQ has neither
        raise ValueError(f"unknown RQ state {state!r}")

    async def read(self, job_id: str, state: str) -> LegacyJob | None:
        try:
            job = await asyncio.to_thread(Job.fetch, job_id, connection=self._sync,
                                          serializer=self.serializer)  # fmt: skip
        except Exception as exc:  # NoSuchJobError, or a hash we cannot deserialize
            if not await self.client.exists(self.job_key(job_id)):
                return None
            return LegacyJob("rq", self.queue, job_id, state, problem=f"unreadable RQ job: {exc}")
        return _legacy_job(self.queue, job, state)

    async def counts(self) -> dict[str, int]:
        sizes = {s: len(await self.ids(s)) for s in ("waiting", "active", "delayed", "failed")}
        return {**sizes, "held": int(await self.client.hlen(self.hold_key))}

    async def finished_since(self, since_ms: int) -> tuple[int, int]:
        """RQ scores its registries by expiry, not finish time: every kept entry counts."""
        done = await self.client.zcard(f"rq:finished:{self.queue}")
        failed = await self.client.zcard(self.key("failed"))
        return int(done), int(failed)

    async def started_expiries(self) -> list[tuple[str, float]]:
        """(job id, heartbeat expiry in epoch seconds) of every started job."""
        entries = await self.client.zrange(self.key("active"), 0, -1, withscores=True)
        pairs: list[tuple[Any, Any]] = [tuple(entry) for entry in entries]
        return [(str(member).split(":", 1)[0], float(score)) for member, score in pairs]


def _legacy_job(queue: str, job: Job, state: str) -> LegacyJob:
    legacy = LegacyJob("rq", queue, job.id, state)
    try:
        meta = (job.meta or {}).get("queue_router")
        args, kwargs = list(job.args or ()), dict(job.kwargs or {})
        legacy.name = str((meta or {}).get("name") or job.func_name)
    except Exception as exc:  # the payload did not deserialize
        legacy.problem = f"unreadable RQ job payload: {exc}"
        return legacy
    if meta and len(args) == 1 and not kwargs:
        legacy.data, legacy.opts = args[0], dict(meta.get("options") or {})
    else:
        legacy.data = {"func": job.func_name, "args": args, "kwargs": kwargs}
    if job.created_at:
        legacy.timestamp_ms = int(job.created_at.replace(tzinfo=UTC).timestamp() * 1000)
    if state == "failed":
        result = job.latest_result()
        legacy.failed_reason = _last_line(result.exc_string) if result else None
    legacy.attempts_made = attempt_of(job) - 1  # the run RQ would make next, minus one
    return legacy


def _last_line(text: str | None) -> str | None:
    return text.strip().splitlines()[-1] if text and text.strip() else None
