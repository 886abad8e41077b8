"""Which job ids Temporal holds or may hold: the memory that keeps a job id one job.

The job id is the idempotency key on every path, but a fallback writes to the legacy
queue, which knows nothing of Temporal. So before any fallback the router asks: did
Temporal ever take this job (``held``: a completed workflow counts), or might it have
(``doubt``: a start whose outcome was unknown)? Either way the job must not go to the
legacy queue: a held job gets a receipt saying Temporal has it (``existing``), a doubted
one ``EnqueueOutcomeUnknown``.

``PlacementMemory`` keeps that in this process (bounded), for unit tests with
``MemoryBackend``. ``RedisPlacementMemory`` keeps it in Redis for every process and
machine, one key per job (``queue-router:placed:<queue>:<job_id>``, value ``H`` or ``D``: about
175 bytes of Redis memory a job with a 12-character id, ~170 MiB per million) with a TTL
(``QUEUE_ROUTER_PLACEMENT_TTL_S``), and this process's
doubts locally as well, so a Redis hiccup never forgets a doubt seen here. When Redis
cannot be read, ``recall`` raises ``PlacementMemoryUnavailable``: the router then reports
the outcome unknown rather than fall back blind.

``HeldTogether`` is ``enqueue_many``'s view of a memory: its ``held`` records go to Redis
a batch at a time (one round trip for many starts), and this process knows each at once.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from redis.exceptions import RedisError

from queue_router.connections.one_connection import OneConnection, pack
from queue_router.connections.redact import redact_url
from queue_router.connections.redis_client import RedisTLS, async_client
from queue_router.contract import AsyncLifecycle
from queue_router.receipts import Placement

__all__ = [
    "HeldTogether",
    "PlacementMemory",
    "PlacementMemoryUnavailable",
    "Recalled",
    "RedisPlacementMemory",
    "memory_key",
]

log = logging.getLogger("queue_router.placements")

# Only "held" replaces "doubt"; a doubt never overwrites what is known to be held.
_REMEMBER_DOUBT = "return redis.call('SET', KEYS[1], 'D', 'EX', ARGV[1], 'NX') and 1 or 0"


class PlacementMemoryUnavailable(Exception):
    """The shared memory could not be read; the caller must not fall back blind."""


@dataclass(frozen=True, slots=True)
class Recalled:
    """What is remembered of one job: Temporal ``held`` it, or there is ``doubt``.

    ``workflow_id`` and ``run_id`` are known only when this process placed the job itself.
    """

    state: Literal["held", "doubt"]
    workflow_id: str | None = None
    run_id: str | None = None


def memory_key(queue: str, job_id: str) -> str:
    return f"queue-router:placed:{queue}:{job_id}"


class PlacementMemory(AsyncLifecycle):
    """In this process only: the last ``limit`` jobs, the oldest forgotten first."""

    def __init__(self, limit: int = 10_000) -> None:
        self._items: OrderedDict[tuple[str, str], Recalled] = OrderedDict()
        self._limit = limit

    def _keep(self, queue: str, job_id: str, recalled: Recalled) -> None:
        item = (queue, job_id)
        if recalled.state == "doubt" and item in self._items:
            return  # held stays held; doubt stays doubt
        self._items[item] = recalled
        self._items.move_to_end(item)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    def _keep_held(self, queue: str, job_id: str, placement: Placement) -> None:
        self._keep(queue, job_id, Recalled("held", placement.job_id, placement.run_id))

    async def held(self, queue: str, job_id: str, placement: Placement) -> None:
        """Temporal holds the job (a start succeeded or found it)."""
        self._keep_held(queue, job_id, placement)  # replaces a doubt kept here
        await self._share(((queue, job_id, placement),))

    async def _share(self, jobs: Sequence[tuple[str, str, Placement]]) -> None:
        """Tell every other process that Temporal holds ``jobs`` (kept here already); an
        in-process memory has no one to tell."""

    async def doubt(self, queue: str, job_id: str) -> None:
        """A start of the job had an unknown outcome: Temporal may hold it."""
        self._keep(queue, job_id, Recalled("doubt"))

    async def recall(self, queue: str, job_id: str) -> Recalled | None:
        return self._items.get((queue, job_id))


class RedisPlacementMemory(PlacementMemory):
    """Shared through Redis by every router instance; see the module docstring.

    Args:
        url: the Redis (``REDIS_URL``).
        ttl_s: how long a placement is remembered (``QUEUE_ROUTER_PLACEMENT_TTL_S``);
            longer than any caller's retry window.
        timeout_s: socket timeout of one call.
    """

    def __init__(
        self,
        url: str,
        *,
        ttl_s: int,
        timeout_s: float,
        tls: RedisTLS | None = None,
        cluster_nodes: Sequence[tuple[str, int]] = (),
    ) -> None:
        super().__init__()
        self._url = url
        self._ttl_s = ttl_s
        self._redis = async_client(url, timeout_s, retries=2, tls=tls, cluster_nodes=cluster_nodes)
        self._doubt_script = self._redis.register_script(_REMEMBER_DOUBT)
        self._one = OneConnection.beside(self._redis, timeout_s)

    async def aclose(self) -> None:
        if self._one is not None:
            self._one.close()
        await self._redis.aclose()

    async def _share(self, jobs: Sequence[tuple[str, str, Placement]]) -> None:
        """Remember them in Redis, before the callers get their receipts, in one round trip
        (one per node of a cluster).

        On the shared connection: the writes of concurrent calls go out together, and a
        write costs one small command, not a pooled round trip (it is on every start).
        """
        keys = [memory_key(queue, job_id) for queue, job_id, _ in jobs]
        try:
            if self._one is None:
                async with self._redis.pipeline(transaction=False) as pipe:
                    for key in keys:
                        pipe.set(key, "H", ex=self._ttl_s)
                    await pipe.execute()
                return
            ttl = self._ttl_s
            replies = await self._one.run([pack("SET", key, "H", "EX", ttl) for key in keys])
            failed = next((reply for reply in replies if isinstance(reply, Exception)), None)
            if failed is not None:
                raise failed
        except (RedisError, OSError) as exc:
            named = ", ".join(f"{job_id} of {queue}" for queue, job_id, _ in jobs[:3])
            more = f" and {len(jobs) - 3} more" if len(jobs) > 3 else ""
            log.warning("could not remember that Temporal holds job %s%s: %s", named, more, exc)

    async def doubt(self, queue: str, job_id: str) -> None:
        await super().doubt(queue, job_id)  # kept here too: a Redis failure forgets nothing
        try:
            await self._doubt_script(keys=[memory_key(queue, job_id)], args=[self._ttl_s])
        except (RedisError, OSError) as exc:
            log.warning("could not share the unknown outcome of job %s of %s: %s",
                        job_id, queue, exc)  # fmt: skip

    async def recall(self, queue: str, job_id: str) -> Recalled | None:
        local = await super().recall(queue, job_id)
        if local is not None:
            return local
        try:
            raw = await self._redis.get(memory_key(queue, job_id))
        except (RedisError, OSError) as exc:
            raise PlacementMemoryUnavailable(
                f"cannot read the record of earlier Temporal placements at "
                f"REDIS_URL={redact_url(self._url)}: {exc}"
            ) from exc
        if raw is None:
            return None
        return Recalled("held") if raw in (b"H", "H") else Recalled("doubt")


class HeldTogether(PlacementMemory):
    """``memory`` for one ``enqueue_many`` call: its ``held`` records are written ``size``
    at a time, and the rest by ``flush``, which the call awaits before it returns.

    One write a start costs this process about 60 µs of CPU (a Redis round trip), a tenth
    of the start itself, and the starts of a call end milliseconds apart, too far apart
    for the shared connection to join their writes; 50 in one write cost 4.5 µs a record.
    Batching adds nothing a caller could see: the call's receipts come back only after its
    ``flush``, and this process knows each job at once (a repeat of it in the same call
    finds it held). ``doubt`` and ``recall`` go straight to ``memory``.
    """

    def __init__(self, memory: PlacementMemory, size: int = 50) -> None:
        super().__init__(limit=0)  # keeps nothing itself: ``memory`` does
        self._memory = memory
        self._size = size
        self._waiting: list[tuple[str, str, Placement]] = []

    async def held(self, queue: str, job_id: str, placement: Placement) -> None:
        self._memory._keep_held(queue, job_id, placement)
        self._waiting.append((queue, job_id, placement))
        if len(self._waiting) >= self._size:
            await self.flush()

    async def flush(self) -> None:
        """Write every record still waiting."""
        waiting, self._waiting = self._waiting, []
        if waiting:
            await self._memory._share(waiting)  # each was kept in ``memory`` when it came

    async def doubt(self, queue: str, job_id: str) -> None:
        await self._memory.doubt(queue, job_id)

    async def recall(self, queue: str, job_id: str) -> Recalled | None:
        return await self._memory.recall(queue, job_id)
