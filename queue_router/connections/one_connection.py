"""One Redis connection that every concurrent caller writes to: ioredis's model, in asyncio.

Node's Bull producer is fast at concurrency because ioredis sends each command at once on
one connection and matches replies to callers in order; it never waits for a reply
before sending the next command, and never borrows a pooled connection per call. This
does the same, and also corks: the commands of one event-loop turn go out in one write.

redis-py still opens the connection (TLS, AUTH, SELECT and our setup hook, exactly as
for every other client of ours); we then take over its socket and parse replies with
``hiredis``. Error replies come back as redis-py's exception classes (``NoScriptError``,
``NoPermissionError`` ...), so the callers' error triage is the one they already use.

A lost connection fails every reply still awaited with a ``ConnectionError`` (the
commands may have run: the caller re-runs its idempotent writes); a reply that takes
longer than the timeout closes the connection for the same reason. The next call
connects again.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
import redis
import redis.asyncio as aredis
from redis._parsers import BaseParser
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

__all__ = ["OneConnection", "pack", "run_script"]


class _ErrorReply(Exception):
    """What our reply parser makes of a Redis error reply, turned into redis-py's class.

    Our own class, given to ``hiredis.Reader``: the module's default ``ReplyError`` is not
    one fixed class for the life of a process (our full test suite saw the Reader return
    instances of a ``hiredis.ReplyError`` other than the one ``hiredis`` exports, after
    other code had imported the extension again), and an error reply not recognised as
    one would pass for a successful reply.
    """


def _as_redis_error(reply: Any) -> Any:
    """An error reply as the redis-py exception it stands for; any other reply as it is."""
    if isinstance(reply, _ErrorReply):
        return BaseParser.parse_error(str(reply))  # type: ignore[no-untyped-call]
    return reply


def pack(*args: str | int | bytes) -> bytes:
    """One command in Redis's wire format (hiredis's packer: C, not redis-py's Python)."""
    packed: bytes = hiredis.pack_command(args)  # type: ignore[arg-type]  # stub: 1-tuples only
    return packed


class _Replies(asyncio.Protocol):
    """Reads replies off the socket; each goes to the caller waiting first in line.

    One watchdog per connection, not a timer per call: every ``timeout_s / 4`` it checks
    the oldest reply still due, and past its deadline drops the connection.
    """

    def __init__(
        self, writer: asyncio.StreamWriter, timeout_s: float, encoding: str | None
    ) -> None:
        self.transport: Any = writer.transport  # asyncio's, or uvloop's (not a subclass)
        self.writer = writer  # kept: a collected StreamWriter closes its transport
        self.timeout_s = timeout_s
        self.loop = asyncio.get_running_loop()
        self.parser = hiredis.Reader(replyError=_ErrorReply, encoding=encoding)
        self.waiting: deque[asyncio.Future[Any]] = deque()
        self.deadlines: deque[float] = deque()
        self.corked: list[bytes] = []
        self.lost: redis.RedisError | None = None
        self.writable: asyncio.Future[None] | None = None
        self.watchdog = self.loop.call_later(timeout_s / 4, self._watch)

    def send(self, commands: Sequence[bytes]) -> list[asyncio.Future[Any]]:
        """Write packed commands; one future per reply, in order.

        On an idle connection a command goes out at once (a caller awaiting one add after
        another waits for nothing else); while replies are due, the commands of one loop
        turn are corked into one write. A batch goes out at once: Redis starts on it while
        the caller prepares the next.
        """
        loop = self.loop
        futures = [loop.create_future() for _ in commands]
        idle = not self.waiting and not self.corked
        self.waiting.extend(futures)
        self.deadlines.extend([loop.time() + self.timeout_s] * len(futures))
        if idle or len(commands) > 1:
            self.corked.extend(commands)
            self._write()
            return futures
        if not self.corked:
            loop.call_soon(self._write)
        self.corked.extend(commands)
        return futures

    def _write(self) -> None:
        corked, self.corked = self.corked, []
        if corked and self.lost is None:
            self.transport.write(b"".join(corked))

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed(data)
            while (reply := self._next_reply()) is not False:
                waiter = self.waiting.popleft()
                self.deadlines.popleft()
                if not waiter.done():
                    waiter.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:  # a stream we cannot follow
            self.drop(redis.ConnectionError(f"unreadable reply from Redis ({exc})"))

    def _next_reply(self) -> Any:
        """The next whole reply, or ``False``; one that is not text in the connection's
        encoding is its caller's ``redis.DataError`` (the reader has consumed it: the
        replies after it still reach their own callers)."""
        try:
            return self.parser.gets()
        except UnicodeDecodeError as exc:
            return redis.DataError(f"a reply is not {exc.encoding} text ({exc.reason})")

    def _watch(self) -> None:
        if self.lost is not None:
            return
        if self.deadlines and self.deadlines[0] < self.loop.time():
            self.drop(redis.TimeoutError(f"no reply from Redis within {self.timeout_s}s; "
                                         "the connection was closed"))  # fmt: skip
            return
        self.watchdog = self.loop.call_later(self.timeout_s / 4, self._watch)

    def drop(self, why: redis.RedisError) -> None:
        """Close the socket and fail every reply still due, now, with ``why``.

        Replies that come late would reach the wrong callers: the connection goes.
        """
        self.transport.close()
        self.connection_lost(why)

    def pause_writing(self) -> None:
        self.writable = self.loop.create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    def connection_lost(self, exc: Exception | None) -> None:
        if self.lost is not None:
            return
        self.watchdog.cancel()
        self.lost = (
            exc if isinstance(exc, redis.RedisError)
            else redis.ConnectionError(f"the connection to Redis was lost ({exc or 'EOF'})")
        )  # fmt: skip
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_exception(self.lost)
                # Marked as seen: a caller awaiting it still gets the error, but one that
                # stopped at an earlier reply of its batch leaves it unawaited, and asyncio
                # would log each such reply as "exception was never retrieved".
                waiter.exception()
        self.deadlines.clear()
        self.resume_writing()


class OneConnection:
    """Commands from every caller on one socket, replies handed back in order.

    Args:
        pool: the redis-py pool whose settings (URL, TLS, credentials, timeouts) the
            connection is opened with; its own connections are not used.
        timeout_s: how long a reply may take; past it (within a quarter more) the
            connection is dropped and every caller still waiting gets ``redis.TimeoutError``.
        encoding: replies as ``str`` decoded with it; bytes (the default) without. Not
            taken from the pool: a caller that parses bytes gets bytes whatever client it
            was given.
    """

    def __init__(
        self, pool: aredis.ConnectionPool, timeout_s: float, *, encoding: str | None = None
    ) -> None:
        self._pool = pool
        self._timeout_s = timeout_s
        self._encoding = encoding
        self._replies: _Replies | None = None
        self._connecting = asyncio.Lock()

    @classmethod
    def beside(
        cls,
        client: aredis.Redis | aredis.RedisCluster,
        timeout_s: float | None = None,
        *,
        encoding: str | None = None,
    ) -> OneConnection | None:
        """One opened like ``client``'s own connections, with their socket timeout unless
        ``timeout_s`` is given; ``None`` for a cluster client, whose commands must go to
        the node of their key (the cluster client routes them)."""
        if isinstance(client, aredis.RedisCluster):
            return None
        pool = client.connection_pool
        timeout_s = timeout_s or pool.connection_kwargs.get("socket_timeout") or 5.0
        return cls(pool, timeout_s, encoding=encoding)

    async def run(self, commands: Sequence[bytes]) -> list[Any]:
        """Send packed commands (``pack``); their replies, in order.

        An error reply is returned as the redis-py exception it stands for, not raised:
        in a batch, one job's error is that job's alone. Connection failures and
        timeouts raise, because they concern every command sent.
        """
        replies = self._replies
        if replies is None or replies.lost is not None:
            replies = await self._connect()
        futures = replies.send(commands)
        if replies.writable is not None:
            await replies.writable
        return [_as_redis_error(await future) for future in futures]

    async def run_one(self, command: bytes) -> Any:
        """``run([command])``'s one reply, without its lists and their comprehension
        (one add's path: about a microsecond of its CPU)."""
        replies = self._replies
        if replies is None or replies.lost is not None:
            replies = await self._connect()
        [future] = replies.send((command,))
        if replies.writable is not None:
            await replies.writable
        return _as_redis_error(await future)

    async def _connect(self) -> _Replies:
        async with self._connecting:
            if self._replies is not None and self._replies.lost is None:
                return self._replies  # another caller connected while this one waited
            connection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            await connection.connect()
            writer = connection._writer
            assert writer is not None
            connection._reader = connection._writer = None  # the socket is ours now
            replies = _Replies(writer, self._timeout_s, self._encoding)
            replies.transport.set_protocol(replies)
            self._replies = replies
            return replies

    def close(self) -> None:
        if self._replies is not None:
            self._replies.drop(redis.ConnectionError("closed by queue-router"))
            self._replies = None


async def run_script(
    one: OneConnection, script: AsyncScript, calls: Sequence[Sequence[str | int | bytes]]
) -> list[Any]:
    """One reply per call of ``script`` (its key count, keys and arguments), in order;
    error replies as redis-py's exceptions.

    By sha, as redis-py's ``Script`` runs it; a Redis that lost the script (restarted, or
    ``SCRIPT FLUSH``) gets its text by ``EVAL``, which caches it for the next calls.
    """
    replies = await one.run([pack("EVALSHA", script.sha, *args) for args in calls])
    unloaded = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if unloaded:
        text = script.script
        assert isinstance(text, str | bytes)  # as registered: never a memoryview
        again = await one.run([pack("EVAL", text, *calls[i]) for i in unloaded])
        for i, reply in zip(unloaded, again, strict=True):
            replies[i] = reply
    return replies
