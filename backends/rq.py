"""``RQBackend``: jobs for Python RQ workers, one RQ queue per router queue.

RQ jobs call a function by dotted path (``rq_function``, per queue) with one argument:
the job's data. The router's queue, job name and options travel in ``job.meta`` under
``queue_router`` so a processor can read them. Enqueues use RQ's atomic ``unique=True``,
so the same job id never becomes two jobs (plain RQ would overwrite and push it again).
RQ is synchronous, so each call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import redis
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Retry

from backends._redis import check_credentials, eviction_preflight, sync_client, write_or_classify
from queue_router.connections.redis_client import RedisTLS
from queue_router.contract import Backend, EnqueueRequest
from queue_router.receipts import Placement

__all__ = ["RQBackend"]


class RQBackend(Backend):
    """Enqueues RQ jobs.

    Args:
        redis_url: where the RQ queues live.
        serializer: ``pickle`` (RQ's default) or ``json``; must match the workers.
        timeout_s: socket timeout; past it the same idempotent write is run again.
        require_noeviction: refuse to start when Redis may evict keys.
        tls: CA, certificate and key files for a ``rediss://`` URL.
    """

    name = "rq"

    def __init__(
        self,
        redis_url: str = "redis://localhost:6379/0",
        *,
        serializer: str = "pickle",
        timeout_s: float = 5.0,
        require_noeviction: bool = False,
        tls: RedisTLS | None = None,
    ) -> None:
        self._url = redis_url
        self._redis: redis.Redis = sync_client(redis_url, timeout_s, tls=tls)
        self._serializer = serializer
        self._require_noeviction = require_noeviction

    def rq_queue(self, name: str) -> Queue:
        return Queue(name, connection=self._redis, serializer=self._serializer)

    async def startup(self) -> None:
        await check_credentials(self.name, self._url, lambda: asyncio.to_thread(self._redis.ping))
        await eviction_preflight(
            lambda: asyncio.to_thread(self._redis.config_get, "maxmemory-policy"),
            require=self._require_noeviction,
        )

    async def aclose(self) -> None:
        await asyncio.to_thread(self._redis.close)

    def _enqueue_sync(self, request: EnqueueRequest) -> bool:
        """Enqueue; True if added, False if the id already existed."""
        options = request.options
        kwargs: dict[str, Any] = {
            "args": (request.data,),
            "job_id": request.job_id,
            "description": f"{request.queue}:{request.job_name}",
            "meta": {
                "queue_router": {
                    "queue": request.queue,
                    "name": request.job_name,
                    "options": options.to_bull(),
                    "shadow": request.shadow,
                }
            },
            "at_front": bool(options.lifo),
            "unique": True,
        }
        if options.timeout_ms is not None:
            kwargs["job_timeout"] = max(1, -(-options.timeout_ms // 1000))
        if options.attempts and options.attempts > 1:
            kwargs["retry"] = Retry(max=options.attempts - 1, interval=_intervals(request))
        queue = self.rq_queue(request.queue)
        try:
            if options.delay_ms > 0:
                delay = timedelta(milliseconds=options.delay_ms)
                queue.enqueue_in(delay, request.rq_function, **kwargs)
            else:
                queue.enqueue(request.rq_function, **kwargs)
        except DuplicateJobError:
            return False
        return True

    async def enqueue(self, request: EnqueueRequest) -> Placement:
        async def write() -> bool:
            return await asyncio.to_thread(self._enqueue_sync, request)

        added = await write_or_classify(self.name, request.job_id, self._url, write)
        return Placement(
            backend=self.name,
            job_id=request.job_id,
            existing=not added,
            detail={"queue": request.queue, "function": request.rq_function},
        )


def _intervals(request: EnqueueRequest) -> list[int]:
    """Bull's backoff as RQ retry intervals in seconds (fixed, or 1x, 3x, 7x... the delay)."""
    options = request.options
    if options.backoff is None or options.attempts is None:
        return [0]
    base = options.backoff.delay_ms / 1000
    if options.backoff.type == "fixed":
        return [round(base)]
    return [round((2**n - 1) * base) for n in range(1, options.attempts)]
