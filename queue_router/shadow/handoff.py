"""``ShadowHandoff``: a router hands its shadow copies to the workers through Redis.

A Temporal start costs the calling process about a millisecond of CPU (the request's
encoding, the SDK's gRPC call, its reply), enough that shadowing every job cut a
concurrent caller's throughput by more than half. Handed off, a copy costs the caller
a place in a list, a short JSON line (encoded by the writer) and a share of one script
call carrying the copies of a few milliseconds (``_GATHER_S``): 2-3 µs of CPU a copy
when a write carries many, more for a caller one call after another, whose writes
carry fewer (README, "Performance"); ``queue-router worker`` starts it
(``relay``), and its comparison needs that worker anyway.

The copies wait in one Redis stream (``INTENTS_KEY``), read by the workers as one
consumer group, so each copy is started by one worker and a worker killed mid-start
leaves its copies to another (see ``relay``). One entry holds the copies of one
call (``intents``): an entry per copy cost Redis 7 µs of CPU a copy (a fifth more
than the Bull write itself) and cut a concurrent caller's jobs/s by a tenth on a
two-core machine. ``COPIES_KEY`` and ``BYTES_KEY`` count the copies the stream holds
and their bytes, so that it is bounded in both (``QUEUE_ROUTER_SHADOW_BACKLOG_MAX``,
``QUEUE_ROUTER_SHADOW_BACKLOG_MAX_BYTES``): past either (no worker running, Temporal down
for long) new copies are dropped and counted in the evidence, never silently lost. The
bytes matter because the stream shares its Redis with the real jobs: 100,000 copies of
2 MB payloads would fill it, and a full Redis refuses the real jobs too.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError, ResponseError

from queue_router.connections.one_connection import OneConnection, run_script
from queue_router.connections.redis_client import AsyncRedis
from queue_router.contract import Backend, EnqueueRequest
from queue_router.evidence.ledger import Evidence
from queue_router.shadow.intents import IntentEncoder, entry_lines, lines_within
from queue_router.shadow.starts import ShadowStarts
from queue_router.telemetry.metrics import SHADOWS

__all__ = [
    "BYTES_KEY", "COPIES_KEY", "INTENTS_KEY", "RELAY_GROUP", "Backlog", "ShadowHandoff", "backlog",
]  # fmt: skip

INTENTS_KEY = "queue-router:{shadow}:intents"
COPIES_KEY = "queue-router:{shadow}:copies"
"""How many copies ``INTENTS_KEY`` holds (one hash slot with it, for Redis Cluster)."""
BYTES_KEY = "queue-router:{shadow}:bytes"
"""How many bytes of copies ``INTENTS_KEY`` holds: its entries' ``c`` fields."""
RELAY_GROUP = "relay"
_PER_CALL = 500
"""Copies per script call (and stream entry) at most: a backlog that built up while
Redis was slow goes in calls that each keep Redis busy briefly, not one long one."""
_GATHER_S = 0.005
"""How long the first copy waits for others before their write goes out (less when
``_PER_CALL`` are waiting, or the router closes). A caller that enqueues one job after
another submits one copy a call: written at once, each copy was a script call of its
own, run during the caller's next call (shadow mode cost 110 µs of CPU a call against
Bull mode's 90; gathered, 99 against 100 that day); a write now carries the copies of
tens of calls. Longer does not measurably help: in blocks of 3,000 sequential calls,
gathering 5, 25, 50 or 100 ms cost +3.9, +2.7, +1.9 and +3.2 µs of CPU a call over Bull
mode, intervals overlapping (README, "Performance"). Nobody waits for a copy, and a few
milliseconds are nothing against its start."""

# Add the copies as one entry if they fit, never trimming old ones away. KEYS: the
# stream, its count of copies, of bytes; ARGV: the bounds (copies, bytes), how many
# copies, their lines. Returns how many were added (all or none) and the room left
# (copies, bytes). An empty stream holds nothing, whatever the counts say (an entry
# deleted by hand): they start again from there.
_HAND_OFF = """
local waiting, held = 0, 0
if redis.call('XLEN', KEYS[1]) > 0 then
  waiting = tonumber(redis.call('GET', KEYS[2]) or '0')
  held = tonumber(redis.call('GET', KEYS[3]) or '0')
end
local room, room_bytes = tonumber(ARGV[1]) - waiting, tonumber(ARGV[2]) - held
local count, size = tonumber(ARGV[3]), #ARGV[4]
if count > room or size > room_bytes then return {0, math.max(room, 0), math.max(room_bytes, 0)} end
redis.call('XADD', KEYS[1], '*', 'n', count, 'c', ARGV[4])
redis.call('SET', KEYS[2], waiting + count)
redis.call('SET', KEYS[3], held + size)
return {count, room - count, room_bytes - size}
"""


@dataclass(frozen=True, slots=True)
class Backlog:
    """The handed-off copies no worker has started yet, for ``queue-router health``."""

    waiting: int
    """Copies in the stream: not yet started (or not yet acknowledged)."""
    taken: int
    """Of the stream's entries (a router's batch of copies each), how many a relay has
    read and not answered yet (or was killed holding)."""
    oldest_s: float
    """How long the oldest has waited (0 when none): a relay keeps it near zero."""
    size: int = 0
    """The bytes of the copies in the stream (their entries' ``c`` fields)."""


async def backlog(client: AsyncRedis) -> Backlog:
    """Read the backlog; the age is measured on Redis's clock, not this machine's."""
    entries = int(await client.xlen(INTENTS_KEY))
    if not entries:
        return Backlog(0, 0, 0.0)
    waiting = max(entries, int(await client.get(COPIES_KEY) or 0))  # an entry holds 1+
    size = int(await client.get(BYTES_KEY) or 0)
    oldest: Any = await client.xrange(INTENTS_KEY, count=1)
    seconds, micros = await client.time()
    now_ms = seconds * 1000 + micros // 1000
    age_s = max(0, now_ms - int(str(oldest[0][0]).split("-", 1)[0])) / 1000 if oldest else 0.0
    try:
        taken = int((await client.xpending(INTENTS_KEY, RELAY_GROUP))["pending"])
    except ResponseError:  # no group: no relay has read the stream yet
        taken = 0
    return Backlog(waiting, taken, age_s, size)


def _per_queue(copies: list[tuple[EnqueueRequest, int]]) -> Counter[str]:
    """How many of ``copies`` each queue has: the metrics and drop counts are per queue."""
    return Counter(copy.queue for copy, _ in copies)


def _fitting(copies: list[tuple[bytes, bytes]], room: int, room_bytes: int) -> int:
    """How many of ``copies`` (the first ones) fit in one entry within both rooms; 0 when
    all do (their call was refused for something else) or none does."""
    fit = lines_within(copies[:room], room_bytes)
    return 0 if fit == len(copies) else fit


def _settle(gathered: asyncio.Future[None]) -> None:
    if not gathered.done():
        gathered.set_result(None)


class ShadowHandoff(ShadowStarts):
    """Writes shadow copies to ``INTENTS_KEY``: the copies of a few milliseconds
    (``_GATHER_S``) in one entry.

    Args:
        client: the Redis of the runtime control (``decode_responses=True``); closed by
            ``aclose``.
        max_waiting: copies held here while their write is under way; past it new ones
            are dropped.
        max_waiting_bytes: the same in bytes of their payloads' JSON.
        backlog_max: copies the stream may hold; past it new ones are dropped.
        backlog_max_bytes: the same in bytes of their entries.
        evidence: where drop counts go, for ``shadow-report``.
    """

    def __init__(
        self,
        client: AsyncRedis,
        *,
        max_waiting: int,
        max_waiting_bytes: int,
        backlog_max: int,
        backlog_max_bytes: int,
        evidence: Evidence | None = None,
    ) -> None:
        super().__init__(limit=max_waiting, evidence=evidence)
        self._redis = client
        self._script = client.register_script(_HAND_OFF)
        self._one = OneConnection.beside(client)  # None on a cluster: its client routes
        self._backlog_max = backlog_max
        self._backlog_max_bytes = backlog_max_bytes
        self._max_bytes = max_waiting_bytes
        self._encode = IntentEncoder()
        self._waiting: list[tuple[EnqueueRequest, int]] = []
        """Copies not yet encoded: the writer encodes a batch at once, mostly in a gap
        while the caller waits on its own writes. Encoded in ``submit``, a sequential
        caller's p50 was 1.041x Bull mode's, 1.018x now (120 rounds A/B); the CPU is the
        same. A copy holds its request (and the caller's data) until written: at most
        ``max_waiting`` of them, ``max_waiting_bytes`` of payload JSON."""
        self._waiting_bytes = 0
        self._writer: asyncio.Task[None] | None = None
        self._gathered: asyncio.Future[None] | None = None
        """Done when the copies gathered so far should go: ``_GATHER_S`` after the first."""
        self._closing = False

    def submit(self, request: EnqueueRequest, within_s: int, backend: Backend) -> bool:
        size = len(request.data_json)
        if len(self._waiting) >= self._max or self._waiting_bytes + size > self._max_bytes:
            self._dropped(request.queue, 1, f"{self._max} copies or {self._max_bytes} bytes "
                          "of payload already waiting to be handed off "
                          "(QUEUE_ROUTER_SHADOW_MAX_WAITING, _MAX_WAITING_BYTES)")  # fmt: skip
            return False
        self._waiting_bytes += size
        self._waiting.append((request, within_s))
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write())
            self._background(self._writer)
        elif len(self._waiting) >= _PER_CALL:
            self._send_now()
        return True

    def _send_now(self) -> None:
        """End the wait of the copies gathered: a full entry, or the router closing."""
        if self._gathered is not None:
            _settle(self._gathered)

    async def drain(self, timeout_s: float) -> None:
        self._closing = True
        self._send_now()
        await super().drain(timeout_s)

    async def _gather(self) -> None:
        """Wait ``_GATHER_S`` for more copies (less if ``_send_now``)."""
        loop = asyncio.get_running_loop()
        self._gathered = gathered = loop.create_future()
        loop.call_later(_GATHER_S, _settle, gathered)
        await gathered

    async def _write(self) -> None:
        """Every copy waiting, in entries of up to ``_PER_CALL``; each entry gathers anew
        (a caller one call after another adds a copy or two while the last entry was
        written: sent at once, they would be a write a copy again)."""
        batch: list[tuple[EnqueueRequest, int]] = []
        try:
            while self._waiting:
                if len(self._waiting) < _PER_CALL and not self._closing:
                    await self._gather()
                batch, self._waiting = self._waiting[:_PER_CALL], self._waiting[_PER_CALL:]
                try:
                    added, why = await self._hand_off(batch)
                finally:  # held until written, so the bound covers the write under way
                    self._waiting_bytes -= sum(len(copy.data_json) for copy, _ in batch)
                for queue, count in _per_queue(batch[:added]).items():
                    SHADOWS.labels(queue, "handed_off").inc(count)
                if added < len(batch):  # the stream's bound, or Redis failed
                    for queue, count in _per_queue(batch[added:]).items():
                        self._dropped(queue, count, why)
                batch = []
        except asyncio.CancelledError:  # closed before the write had an answer
            unwritten = _per_queue([*batch, *self._waiting])
            self._waiting, self._waiting_bytes = [], 0  # (the batch's own left already)
            for queue, count in unwritten.items():
                self._dropped(queue, count, "the router closed before they were handed off")
            raise
        finally:
            self._writer = self._gathered = None

    async def _hand_off(self, batch: list[tuple[EnqueueRequest, int]]) -> tuple[int, str]:
        """How many of ``batch`` (its first ones) the stream took, and why the rest were
        not. When Redis fails none count as taken, though they may have been written:
        those are started and compared all the same."""
        encode = self._encode
        copies = [encode(copy, within_s) for copy, within_s in batch]
        try:
            added, room, room_bytes = await self._add(copies)
            fit = 0 if added else _fitting(copies, room, room_bytes)
            if fit:  # at a bound: what still fits goes
                added, _, _ = await self._add(copies[:fit])
        except (RedisError, OSError) as exc:
            return 0, f"not handed off to the workers: {exc}"
        return added, (f"{self._backlog_max} copies or {self._backlog_max_bytes} bytes "
                       "already wait for a worker (QUEUE_ROUTER_SHADOW_BACKLOG_MAX, "
                       "_BACKLOG_MAX_BYTES; is `queue-router worker` running?)")  # fmt: skip

    async def _add(self, copies: list[tuple[bytes, bytes]]) -> tuple[int, int, int]:
        """One script call for encoded ``copies``: (copies added, all or none; room left
        in the stream, in copies and in bytes).

        On one connection of our own, packed by hiredis; a cluster's client routes the
        call instead.
        """
        args: list[str | int | bytes] = [
            self._backlog_max, self._backlog_max_bytes, len(copies), entry_lines(copies)
        ]  # fmt: skip
        keys = [INTENTS_KEY, COPIES_KEY, BYTES_KEY]
        if self._one is None:
            reply: Any = await self._script(keys=keys, args=args)
        else:
            [reply] = await run_script(self._one, self._script, [[len(keys), *keys, *args]])
            if isinstance(reply, Exception):
                raise reply
        return int(reply[0]), int(reply[1]), int(reply[2])

    async def aclose(self) -> None:
        if self._one is not None:
            self._one.close()
        await self._redis.aclose()
