"""``ShadowRelay``: the worker side of the shadow handoff, which starts the copies.

Every ``queue-router worker`` runs one. The relays read ``INTENTS_KEY`` as one consumer
group, so each entry (a router's batch of copies) goes to one of them; an entry is
acknowledged and deleted once the start of every copy in it has an answer. An entry with
a copy whose start is in doubt (Temporal unreachable, a timeout) stays pending, and so
does every entry of a relay killed mid-batch: after ``QUEUE_ROUTER_SHADOW_RETRY_MS`` any
relay claims it (``XAUTOCLAIM``) and starts its copies again. Starting twice is
harmless: a shadow copy's workflow id is fixed by its job id, so the second start finds
the first (and counts as ``ok`` again in ``queue_router_shadow_total``).

The relay creates nothing in Redis by itself: until a router hands off a copy there is
no stream, and the group is made on the first one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable
from typing import Any

from redis.exceptions import RedisError, ResponseError

from queue_router.connections.redis_client import AsyncRedis
from queue_router.contract import Backend
from queue_router.errors import BackendUnavailable, EnqueueOutcomeUnknown, QueueRouterError
from queue_router.shadow.handoff import BYTES_KEY, COPIES_KEY, INTENTS_KEY, RELAY_GROUP, backlog
from queue_router.shadow.intents import decode_intent, entry_copies
from queue_router.telemetry.logsummary import LogSummary
from queue_router.telemetry.metrics import (
    SHADOW_BACKLOG,
    SHADOW_BACKLOG_AGE,
    SHADOW_BACKLOG_BYTES,
    SHADOWS,
)

__all__ = ["ShadowRelay"]

log = logging.getLogger("queue_router.shadow")

Entry = tuple[str | None, dict[str, str] | None]
_REPORT_S = 5.0
"""How often a relay reads the backlog for its gauges."""

# Acknowledge and delete an answered entry; the counts lose its copies and bytes if
# this call deleted it (one deleted already, by a relay that claimed it too, counts
# once). KEYS: the stream, its count of copies, of bytes; ARGV: the group, the entry's
# id, its copies. Its bytes are read here: the length of its ``c`` field, as added.
_DONE = """
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
local size = 0
local entry = redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2])[1]
if entry then
  for i = 1, #entry[2], 2 do
    if entry[2][i] == 'c' then size = #entry[2][i + 1] end
  end
end
local deleted = redis.call('XDEL', KEYS[1], ARGV[2])
local empty = redis.call('XLEN', KEYS[1]) == 0
local left = tonumber(redis.call('GET', KEYS[2]) or '0') - deleted * tonumber(ARGV[3])
if left < 0 or empty then left = 0 end
redis.call('SET', KEYS[2], left)
local held = tonumber(redis.call('GET', KEYS[3]) or '0') - deleted * size
if held < 0 or empty then held = 0 end
redis.call('SET', KEYS[3], held)
return left
"""


class ShadowRelay:
    """Starts handed-off shadow copies on ``backend`` until ``run``'s ``stop`` is set.

    Args:
        client: the Redis the routers hand off to (``decode_responses=True``); this
            relay's own, since it blocks on reads.
        backend: the Temporal backend the copies start on.
        retry_s: how long a copy stays with a relay that did not finish it before any
            relay takes it again.
        concurrency: starts running at once; a read takes ``concurrency // 10`` entries
            (up to 500 copies each).
        block_s: how long one read waits for new copies (below the Redis timeout).
    """

    def __init__(
        self,
        client: AsyncRedis,
        backend: Backend,
        *,
        retry_s: float = 30.0,
        concurrency: int = 50,
        block_s: float = 1.0,
    ) -> None:
        self._redis = client
        self._backend = backend
        self._retry_ms = int(retry_s * 1000)
        self._room = asyncio.Semaphore(concurrency)
        self._batch = max(1, concurrency // 10)
        self._done = client.register_script(_DONE)
        self._block_ms = int(block_s * 1000)
        self.consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self._log = LogSummary(log)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; Redis errors are logged and waited out."""
        loop = asyncio.get_running_loop()
        next_claim = next_report = 0.0
        while not stop.is_set():
            try:
                if loop.time() >= next_report:
                    next_report = loop.time() + _REPORT_S
                    waiting = await backlog(self._redis)
                    SHADOW_BACKLOG.set(waiting.waiting)
                    SHADOW_BACKLOG_BYTES.set(waiting.size)
                    SHADOW_BACKLOG_AGE.set(waiting.oldest_s)
                if loop.time() >= next_claim:  # copies another relay left unfinished
                    next_claim = loop.time() + self._retry_ms / 4000
                    if await self._relay(await self._claim()):
                        continue
                await self._relay(await self._read())
            except (RedisError, OSError) as exc:
                self._log.warning("redis", "shadow relay cannot read %s: %s", INTENTS_KEY, exc)
                await _wait(stop, self._block_ms / 1000)
            except _NoStream:
                await _wait(stop, self._block_ms / 1000)
        await self._leave()
        self._log.flush()

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def _read(self) -> list[Entry]:
        reply: Any = await self._in_group(self._redis.xreadgroup(
            RELAY_GROUP, self.consumer, {INTENTS_KEY: ">"},
            count=self._batch, block=self._block_ms,
        ))  # fmt: skip
        return list(reply[0][1]) if reply else []

    async def _claim(self) -> list[Entry]:
        reply: Any = await self._in_group(self._redis.xautoclaim(
            INTENTS_KEY, RELAY_GROUP, self.consumer, self._retry_ms, count=self._batch
        ))  # fmt: skip
        return list(reply[1]) if reply else []

    async def _in_group(self, command: Awaitable[Any]) -> Any:
        """``command``'s reply, or None when the group is not there yet (then made)."""
        try:
            return await command
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self._join()
            return None

    async def _join(self) -> None:
        """Make the group once the stream exists, reading it from its first copy."""
        try:
            await self._redis.xgroup_create(INTENTS_KEY, RELAY_GROUP, id="0")
        except ResponseError as exc:
            if "BUSYGROUP" in str(exc):
                return
            if "requires the key to exist" in str(exc):
                raise _NoStream from exc
            raise

    async def _relay(self, entries: list[Entry]) -> bool:
        """Start the entries' copies; acknowledge and delete each entry once every copy
        in it has an answer. False when there was nothing to relay."""
        live = [(entry_id, fields) for entry_id, fields in entries if entry_id is not None]
        if not live:  # (Redis 6.2 shows a pending entry deleted by hand as nil)
            return False
        await asyncio.gather(*(self._entry(entry_id, fields) for entry_id, fields in live))
        return True

    async def _entry(self, entry_id: str, fields: dict[str, str] | None) -> None:
        """Start one entry's copies, and acknowledge it once each has an answer (one
        in doubt keeps the whole entry pending: its copies are all started again)."""
        if fields is None:  # deleted while pending: nothing left to start
            copies: list[tuple[str, str]] = []
        else:
            try:
                copies = entry_copies(fields)
            except ValueError as exc:
                self._log.warning("invalid", "shadow relay dropped entry %s of %s: %s",
                                  entry_id, INTENTS_KEY, exc)  # fmt: skip
                copies = []
        answered = await asyncio.gather(*(self._start(*copy) for copy in copies))
        if all(answered):
            await self._done(keys=[INTENTS_KEY, COPIES_KEY, BYTES_KEY],
                             args=[RELAY_GROUP, entry_id, len(copies)])  # fmt: skip

    async def _start(self, shared: str, own: str) -> bool:
        """True when the copy has an answer (started, already there, or never startable)."""
        try:
            request = decode_intent(shared, own)
        except ValueError as exc:
            self._log.warning("invalid", "shadow relay dropped a copy in %s: %s",
                              INTENTS_KEY, exc)  # fmt: skip
            return True
        async with self._room:
            try:
                await self._backend.enqueue(request)
            except (BackendUnavailable, EnqueueOutcomeUnknown) as exc:
                self._log.warning("doubt", "shadow copy of job %s on %s not started yet "
                                  "(again in %d s): %s", request.job_id, request.queue,
                                  self._retry_ms // 1000, exc)  # fmt: skip
                return False
            except QueueRouterError as exc:
                SHADOWS.labels(request.queue, "failed").inc()
                self._log.warning("failed", "shadow copy of job %s on %s failed: %s",
                                  request.job_id, request.queue, exc)  # fmt: skip
                return True
            except Exception as exc:  # outside the contract: in doubt, like a timeout
                self._log.warning("unexpected", "shadow copy of job %s on %s: unexpected "
                                  "%s: %s", request.job_id, request.queue,
                                  type(exc).__name__, exc)  # fmt: skip
                return False
        SHADOWS.labels(request.queue, "ok").inc()
        return True

    async def _leave(self) -> None:
        """Leave the group's list of consumers when nothing is pending with this one."""
        try:
            mine: Any = await self._redis.xpending_range(
                INTENTS_KEY, RELAY_GROUP, min="-", max="+", count=1, consumername=self.consumer
            )
            if not mine:
                await self._redis.xgroup_delconsumer(INTENTS_KEY, RELAY_GROUP, self.consumer)
        except (RedisError, OSError):
            pass  # no stream or no Redis: nothing to leave, or another relay claims later


class _NoStream(Exception):
    """No router has handed off a copy yet."""


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
