"""``queue-router list-worker``: the registered processors, run on a plain Redis list.

For teams whose list consumer moves to Python. Each element is moved atomically
(``BLMOVE``) from the list into this worker's own processing list before it runs, and
removed from there only when it finished; so a worker killed mid-job leaves its element
in the processing list, and the next worker to start (or a running one, every
heartbeat) puts the elements of any worker whose heartbeat stopped back on the list,
where they run again (their side effects are claimed once, see ``processors.effects``).

An element is a ``list_envelope`` (``{"job_id", "queue", "data", "options"}``) or plain
data; plain data gets a stable job id, the first 16 hex digits of its SHA-1. A job that
fails all its ``attempts`` goes to ``<list>:failed`` (nothing is dropped).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from typing import Any

from backends.redis_list import slot_tag
from queue_router.config import Settings
from queue_router.connections.redis_client import AsyncRedis, async_client
from queue_router.errors import ConfigError
from queue_router.evidence.ledger import Evidence
from queue_router.processors.effects import EffectClaims
from queue_router.processors.registry import Registry, default_registry, run_processor
from workflows.envelope import JobEnvelope

__all__ = ["ListWorker", "envelope_of_element"]

log = logging.getLogger("queue_router.list_worker")

# Move every element of a dead worker's processing list back to the consumer end of the
# list, and forget the worker. KEYS: list, processing list, workers set; ARGV: worker id.
_RECOVER = """
local moved = 0
while redis.call('LMOVE', KEYS[2], KEYS[1], 'RIGHT', 'RIGHT') do moved = moved + 1 end
redis.call('SREM', KEYS[3], ARGV[1])
return moved
"""


def envelope_of_element(queue: str, element: str) -> JobEnvelope:
    """The job in a list element: an envelope, JSON data, or (not JSON) the text itself."""
    try:
        value: Any = json.loads(element)
    except ValueError:
        value = element
    if isinstance(value, dict) and {"job_id", "queue", "data"} <= value.keys():
        return JobEnvelope(queue, str(value["job_id"]), "__default__", value["data"],
                           dict(value.get("options") or {}))  # fmt: skip
    job_id = hashlib.sha1(element.encode(), usedforsecurity=False).hexdigest()[:16]
    return JobEnvelope(queue, job_id, "__default__", value, {})


class ListWorker:
    """Runs ``queue``'s processor on the elements of its list until ``stop`` is set."""

    def __init__(self, settings: Settings, queue: str, registry: Registry = default_registry):
        config = settings.queue(queue)
        if config.legacy != "list":
            raise ConfigError(f"list-worker: queue {queue!r} is not a list queue "
                              f"(its legacy is {config.legacy!r}; set 'legacy': 'list' in "
                              "QUEUE_ROUTER_QUEUES)")  # fmt: skip
        self.settings, self.queue, self.registry = settings, queue, registry
        self.list_key = config.list_key
        self._slot = slot_tag(self.list_key)
        self.id = uuid.uuid4().hex[:12]
        self.processing = self._processing_of(self.id)
        self.workers = f"{self._slot}:queue-router:list-workers"
        self.failed = f"{self.list_key}:failed"
        self.heartbeat_s = settings.worker.list_worker_heartbeat_s
        redis = settings.redis
        self._redis: AsyncRedis = async_client(
            redis.redis_url, max(redis.redis_timeout_ms / 1000, 5.0), max_connections=20,
            retries=1, tls=redis.tls(), decode_responses=True, cluster_nodes=redis.cluster_nodes(),
        )  # fmt: skip

    def _alive_key(self, worker: str) -> str:
        return f"{self.workers}:{worker}"

    def _processing_of(self, worker: str) -> str:
        """A worker's own processing list, in the list's hash slot."""
        return f"{self._slot}:queue-router:processing:{worker}"

    async def run(self, stop: asyncio.Event) -> None:
        claims = EffectClaims(self._redis, lease_ms=self.settings.worker.effect_lease_ms,
                              ttl_s=self.settings.worker.effect_ttl_s)  # fmt: skip
        evidence = Evidence(self._redis)
        await self._beat()
        await self._redis.sadd(self.workers, self.id)
        beating = asyncio.create_task(self._heartbeats(stop))
        log.info("list-worker %s on %s (list %s)", self.id, self.queue, self.list_key)
        try:
            while not stop.is_set():
                element = await self._redis.blmove(self.list_key, self.processing, 1,
                                                   "RIGHT", "LEFT")  # fmt: skip
                if element is not None:
                    await self._run_one(str(element), claims, evidence)
        finally:
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
            await self._redis.srem(self.workers, self.id)
            await self._redis.delete(self._alive_key(self.id))
            await self._redis.aclose()

    async def _run_one(self, element: str, claims: EffectClaims, evidence: Evidence) -> None:
        envelope = envelope_of_element(self.queue, element)
        attempts = max(1, int(envelope.options.get("attempts") or 1))
        for attempt in range(1, attempts + 1):
            try:
                await run_processor(self.registry, envelope, attempt=attempt, runtime="list",
                                    settings=self.settings, claims=claims,
                                    evidence=evidence)  # fmt: skip
                break
            except Exception as exc:
                log.warning("job %s on %s failed (attempt %d of %d): %s", envelope.job_id,
                            self.queue, attempt, attempts, exc)  # fmt: skip
                if attempt == attempts:
                    await self._redis.lpush(self.failed, element)
                else:
                    await asyncio.sleep(min(2 ** (attempt - 1), 30))
        await self._redis.lrem(self.processing, 1, element)

    async def _beat(self) -> None:
        await self._redis.set(self._alive_key(self.id), "1", ex=self.heartbeat_s)

    async def _heartbeats(self, stop: asyncio.Event) -> None:
        """Stay alive, and put back the elements of workers that are not."""
        while not stop.is_set():
            await self._recover_dead()
            await asyncio.sleep(max(self.heartbeat_s / 3, 0.2))
            await self._beat()

    async def _recover_dead(self) -> None:
        for worker in await self._redis.smembers(self.workers):
            if worker == self.id or await self._redis.exists(self._alive_key(str(worker))):
                continue
            moved = await self._redis.eval(_RECOVER, 3, self.list_key,
                                           self._processing_of(str(worker)), self.workers,
                                           str(worker))  # fmt: skip
            if moved:
                log.warning("list-worker %s stopped with %s element(s) in hand: put back on %s",
                            worker, moved, self.list_key)  # fmt: skip
