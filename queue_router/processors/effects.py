"""The side-effect claim: under dual-write a job runs twice, its effect must happen once.

Before a side effect (send, POST, write) a run claims the job's effect key in Redis with
an atomic set-if-absent. The winner performs the effect and records its result under the
same key; every later run (the other backend of a dual-write, a retry, a migrated copy)
finds the record and returns it instead of acting again.

The protocol, so that a Node Bull processor can honour it too (see README, "Side-effect
claims", and ``examples/node/worker.js``):

* key: ``queue-router:effect:<queue>:<job_id>:<effect>``
* claim: ``SET key '{"state":"pending","owner":<uuid>,"at":<ms>}' NX PX <lease_ms>``
* done: ``{"state":"done","owner":<uuid>,"at":<ms>,"result":<json>}`` with ``EX <ttl_s>``,
  written only if the key still holds the writer's own pending claim
  (``effect_complete.lua``)
* failed effect: the owner deletes its own claim (``effect_release.lua``) so a retry can act
* index: the performer then adds the effect's name to the set
  ``queue-router:effects:<queue>:<job_id>`` (same TTL), so a shadow comparison knows
  which effects the legacy run performed without scanning keys

A run that finds a pending claim waits for it to become done or to vanish (released, or
its lease expired); if it stays pending past the wait, ``EffectInProgress`` asks for a
retry later. The lease must exceed the effect's duration: an owner that dies mid-effect
is only replaced after its lease, and one whose lease ran out is reported, not hidden.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import redis.asyncio as aioredis

from queue_router.connections.redis_client import AsyncRedis, RedisTLS, async_client
from queue_router.errors import EffectInProgress

__all__ = ["EffectClaims", "effect_key", "effects_index_key"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_SCRIPTS = Path(__file__).parent
# Shared with Node processors (examples/node/worker.js reads the same files).
_COMPLETE = (_SCRIPTS / "effect_complete.lua").read_text()
_RELEASE = (_SCRIPTS / "effect_release.lua").read_text()


def effect_key(queue: str, job_id: str, effect: str) -> str:
    return f"queue-router:effect:{queue}:{job_id}:{effect}"


def effects_index_key(queue: str, job_id: str) -> str:
    return f"queue-router:effects:{queue}:{job_id}"


def _now_ms() -> int:
    return int(time.time() * 1000)


class EffectClaims:
    """Claims effect keys in one Redis; shared by every processor run of a worker.

    Args:
        client: an async Redis client (``decode_responses=True``), closed by ``aclose``.
        lease_ms: how long a pending claim lives if its owner dies mid-effect.
        ttl_s: how long a done record is kept, i.e. how late a duplicate run is caught.
        wait_s: how long a run waits for another run's pending claim (default: the lease).
        poll_s: how often it looks while waiting.
    """

    def __init__(
        self,
        client: AsyncRedis,
        *,
        lease_ms: int = 300_000,
        ttl_s: int = 7 * 24 * 3600,
        wait_s: float | None = None,
        poll_s: float = 0.1,
    ) -> None:
        self._redis = client
        self.lease_ms = lease_ms
        self.ttl_s = ttl_s
        self.wait_s = lease_ms / 1000 if wait_s is None else wait_s
        self.poll_s = poll_s

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        tls: RedisTLS | None = None,
        cluster_nodes: Sequence[tuple[str, int]] = (),
        **kwargs: Any,
    ) -> EffectClaims:
        """Claims in the Redis at ``url`` (or the cluster of ``cluster_nodes``).

        Each claim is one key, so a cluster spreads them over its slots freely.
        """
        client = async_client(
            url, 10.0, max_connections=200, retries=3, tls=tls, decode_responses=True,
            cluster_nodes=cluster_nodes,
        )  # fmt: skip
        return cls(client, **kwargs)

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def note_performed(self, queue: str, job_id: str, effect: str) -> None:
        """Index a performed effect under its job; a lost note only blurs a comparison."""
        index = effects_index_key(queue, job_id)
        try:
            await self._redis.sadd(index, effect)
            await self._redis.expire(index, self.ttl_s)
        except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
            log.warning("effect %s of job %s on %s: not indexed (%s)", effect, job_id, queue, exc)

    async def run_once(self, key: str, action: Callable[[], Awaitable[T]]) -> tuple[bool, T | Any]:
        """Run ``action`` unless another run already did; returns (performed, result).

        Raises:
            EffectInProgress: another run holds the claim and did not finish in time.
        """
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + self.wait_s
        while True:
            pending = json.dumps({"state": "pending", "owner": owner, "at": _now_ms()})
            claimed_at = time.monotonic()
            if await self._redis.set(key, pending, nx=True, px=self.lease_ms):
                return True, await self._perform(key, owner, action, claimed_at)
            current = await self._redis.get(key)
            if current is not None:
                record = _decode(key, str(current))
                if record.get("state") == "done":
                    return False, record.get("result")
            if time.monotonic() >= deadline:
                raise EffectInProgress(
                    f"effect {key} is claimed by another run that has not finished "
                    f"after {self.wait_s:.1f}s; retry later"
                )
            await asyncio.sleep(self.poll_s)

    async def _perform(
        self, key: str, owner: str, action: Callable[[], Awaitable[T]], claimed_at: float
    ) -> T:
        try:
            result = await action()
        except BaseException:
            await self._redis.eval(_RELEASE, 1, key, owner)
            raise
        record = {"state": "done", "owner": owner, "at": _now_ms(), "result": result}
        done = json.dumps(record, default=str)  # the effect happened: never fail here
        await self._record_done(key, owner, done, claimed_at)
        return result

    async def _record_done(self, key: str, owner: str, done: str, claimed_at: float) -> None:
        """Write the done record, retrying on a fresh connection until it lands.

        The effect has already happened, so giving up early would leave the claim pending
        and a later run would perform it again once the lease ran out. A connection that
        died with a Redis restart is dropped from the pool by the failed call, so the next
        try connects anew. Tries stop when the lease is nearly over (then another run may
        take the claim anyway); the complete script is idempotent for its owner.
        """
        give_up = claimed_at + self.lease_ms / 1000 * 0.9
        pause = 0.05
        while True:
            try:
                landed = await self._redis.eval(_COMPLETE, 1, key, owner, done, self.ttl_s)
            except (aioredis.ConnectionError, aioredis.TimeoutError, OSError) as exc:
                if time.monotonic() + pause >= give_up:
                    log.error(
                        "effect %s was performed but its done record could not be written "
                        "before the claim's lease ran out (%s); a later run may repeat it",
                        key,
                        exc,
                    )
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            if not landed:
                log.warning(
                    "effect %s was performed after its claim's lease (%d ms) ran out; "
                    "another run may have performed it too: raise QUEUE_ROUTER_EFFECT_LEASE_MS",
                    key,
                    self.lease_ms,
                )
            return


def _decode(key: str, raw: str) -> dict[str, Any]:
    try:
        record = json.loads(raw)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        raise EffectInProgress(f"effect key {key} holds a value that is not a claim: {raw[:80]!r}")
    return record
