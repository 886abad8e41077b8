"""Runtime control shared by every router instance through Redis: live mode and percentage.

Env vars stay the boot default. An operator (``queue-router set``) or a controller writes
a queue's live mode and percentage; the rollback guard writes its open/closed state the
same way. Every router instance applies a change within 2 seconds: a pub/sub message
makes it re-read at once, and a re-read every second is the safety net for a missed
message. While Redis is unreachable an instance keeps its last known state.

Layout (all under ``queue-router:``):

- ``control`` (hash): queue -> ``{"mode", "percentage", "reason", "by", "updated_at",
  "source"}``;
  the field ``__guard__`` -> ``{"open_until_ms", "reason", "by", "updated_at"}``;
- ``control:changed`` (pub/sub channel): a change was written, re-read;
- ``audit:<queue>`` (stream, capped): every change with old and new value, reason, by.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from redis.exceptions import RedisError

from queue_router.config import QueueConfig
from queue_router.connections.redis_client import AsyncRedis
from queue_router.telemetry.logsummary import LogSummary

__all__ = ["AUDIT_LENGTH", "GUARD", "LiveSetting", "LiveState", "RuntimeControl", "who"]

CONTROL = "queue-router:control"
CHANGED = "queue-router:control:changed"
GUARD = "__guard__"
AUDIT_LENGTH = 10_000
"""Entries kept per queue's audit stream (older ones are trimmed)."""

log = logging.getLogger("queue_router.control")


def who() -> str:
    """``user@host`` of this process, for the audit trail."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@dataclass(frozen=True, slots=True)
class LiveSetting:
    """A queue's live mode and/or percentage (``None``: keep the env value)."""

    mode: str | None
    percentage: float | None
    reason: str
    by: str
    updated_at: float
    source: str = "live"
    """``live`` (an operator or a rollout step) or ``guard`` (a rollback by a check)."""


@dataclass(frozen=True, slots=True)
class LiveState:
    """Everything the shared control holds, as last read."""

    queues: dict[str, LiveSetting]
    guard_open_until: float | None = None
    guard_reason: str = ""

    def config_of(self, base: QueueConfig) -> QueueConfig:
        """``base`` (a queue's env configuration) with its live setting applied, if any."""
        live = self.queues.get(base.name)
        return base if live is None else base.with_live(live.mode, live.percentage)


def _audit_key(queue: str) -> str:
    return f"queue-router:audit:{queue}"


class RuntimeControl:
    """Reads and writes the shared state; the router keeps one running in the background.

    Args:
        client: Redis (single or cluster), ``decode_responses=True``.
        on_change: called with each newly read ``LiveState`` (no I/O: it swaps tables).
        poll_s: the re-read interval, the safety net behind pub/sub.
    """

    def __init__(
        self,
        client: AsyncRedis,
        *,
        on_change: Callable[[LiveState], None] | None = None,
        poll_s: float = 1.0,
    ) -> None:
        self._redis = client
        self.on_change = on_change
        self._poll_s = poll_s
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._last: LiveState | None = None
        self._stopping = False
        self._log = LogSummary(log, interval_s=30)

    # --- reading --------------------------------------------------------------------
    async def read(self) -> LiveState:
        raw = await self._redis.hgetall(CONTROL)
        queues: dict[str, LiveSetting] = {}
        guard_until, guard_reason = None, ""
        for field, text in raw.items():
            record = json.loads(text)
            if field == GUARD:
                guard_until = float(record["open_until_ms"]) / 1000
                guard_reason = str(record.get("reason", ""))
            else:
                queues[str(field)] = LiveSetting(**record)
        return LiveState(queues, guard_until, guard_reason)

    async def start(self) -> None:
        """Read once now (a Redis that is down only delays it), then follow changes."""
        with contextlib.suppress(RedisError, OSError):
            self._apply(await self.read())
        self._task = asyncio.get_running_loop().create_task(self._follow())

    async def aclose(self) -> None:
        await self.stop()
        await self._redis.aclose()

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=2.0)
            self._task = None

    async def _follow(self) -> None:
        helpers = [
            asyncio.get_running_loop().create_task(c) for c in (self._listen(), self._tick())
        ]
        try:
            while not self._stopping:  # a flag as well as cancel(): a cancel that lands
                await self._wake.wait()  # inside a Redis call can be swallowed there
                self._wake.clear()
                if self._stopping:
                    break
                try:
                    self._apply(await self.read())
                except (RedisError, OSError, ValueError) as exc:  # keep the last known state
                    self._log.warning("read", "runtime control unreadable, keeping the last "
                                      "known state: %s", exc)  # fmt: skip
        finally:
            for helper in helpers:
                helper.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)

    async def _tick(self) -> None:
        """The safety net: a re-read every ``poll_s`` even if a change message was missed."""
        while True:
            await asyncio.sleep(self._poll_s)
            self._wake.set()

    async def _listen(self) -> None:
        """Wake the reader on every change message; reconnect quietly after errors."""
        while True:
            try:
                pubsub = self._redis.pubsub()
                await pubsub.subscribe(CHANGED)
                try:
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._wake.set()
                finally:  # bounded: closing a pub/sub cut off mid-read can wait forever
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(pubsub.aclose(), 1.0)  # type: ignore[no-untyped-call]
            except (RedisError, OSError):
                await asyncio.sleep(self._poll_s)
            except Exception as exc:  # e.g. a client without pub/sub: the re-read still runs
                log.warning("runtime control: no change notifications (%s); re-reading "
                            "every %gs instead", exc, self._poll_s)  # fmt: skip
                return

    def _apply(self, state: LiveState) -> None:
        if state != self._last:
            self._last = state
            if self.on_change is not None:
                self.on_change(state)

    # --- writing --------------------------------------------------------------------
    async def set(
        self, queue: str, *, mode: str | None, percentage: float | None, reason: str, by: str,
        source: str = "live",
    ) -> LiveSetting:  # fmt: skip
        """Write a queue's live mode/percentage (unset ones keep their env value)."""
        setting = LiveSetting(mode, percentage, reason, by, time.time(), source)
        old = await self._redis.hget(CONTROL, queue)
        await self._redis.hset(CONTROL, queue, json.dumps(asdict(setting)))
        await self._audit(queue, old, asdict(setting), reason, by)
        await self._redis.publish(CHANGED, queue)
        return setting

    async def clear(self, queue: str, *, reason: str, by: str) -> bool:
        """Back to the env values; False if the queue had no live setting."""
        old = await self._redis.hget(CONTROL, queue)
        if old is None:
            return False
        await self._redis.hdel(CONTROL, queue)
        await self._audit(queue, old, None, reason, by)
        await self._redis.publish(CHANGED, queue)
        return True

    async def open_guard(self, *, until: float, reason: str, by: str) -> None:
        record = {"open_until_ms": int(until * 1000), "reason": reason, "by": by,
                  "updated_at": time.time()}  # fmt: skip
        await self._redis.hset(CONTROL, GUARD, json.dumps(record))
        await self._audit(GUARD, None, record, reason, by)
        await self._redis.publish(CHANGED, GUARD)

    async def close_guard(self, *, reason: str, by: str) -> None:
        old = await self._redis.hget(CONTROL, GUARD)
        if old is not None and await self._redis.hdel(CONTROL, GUARD):
            await self._audit(GUARD, old, None, reason, by)
            await self._redis.publish(CHANGED, GUARD)

    async def record(
        self, subject: str, old: dict[str, Any], new: dict[str, Any], reason: str, by: str
    ) -> None:
        """Audit a change made elsewhere (a worker build ramp in Temporal) beside ours."""
        await self._audit(subject, json.dumps(old), new, reason, by)

    async def _audit(
        self, queue: str, old: Any, new: dict[str, Any] | None, reason: str, by: str
    ) -> None:
        entry: dict[Any, Any] = {"at": f"{time.time():.3f}", "old": old or "null",
                                 "new": json.dumps(new), "reason": reason, "by": by}  # fmt: skip
        await self._redis.xadd(_audit_key(queue), entry, maxlen=AUDIT_LENGTH, approximate=True)

    async def audit(self, queue: str, count: int = 100) -> list[dict[str, Any]]:
        """The latest ``count`` changes of ``queue``, oldest first."""
        entries: list[tuple[str, dict[str, str]]] = await self._redis.xrevrange(
            _audit_key(queue), count=count
        )  # type: ignore[assignment]
        return [
            {"id": entry_id, "at": float(fields["at"]), "old": json.loads(fields["old"]),
             "new": json.loads(fields["new"]), "reason": fields["reason"], "by": fields["by"]}
            for entry_id, fields in reversed(entries)
        ]  # fmt: skip
