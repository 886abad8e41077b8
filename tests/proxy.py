"""A loopback TCP proxy that can blackhole traffic, to make timeouts really ambiguous.

``forward`` passes bytes both ways. ``drop_replies`` still delivers requests to the
server but throws its replies away (the write happens; the caller times out).
``blackhole`` delivers nothing either way. ``hold_replies(seconds)`` keeps the server's
replies back for a while and then delivers them in order (a slow server: the write
happens, the caller times out, a later re-send gets its answer). ``refuse()`` closes
every connection and the listener, so a retry meets a refused connect. Only 127.0.0.1
is ever used.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from typing import Literal

Mode = Literal["forward", "drop_replies", "blackhole"]


class ToggleProxy:
    def __init__(self, target_port: int, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.target_port = target_port
        self._ssl = ssl_context
        self.mode: Mode = "forward"
        self.port = 0
        self._held_until = 0.0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._ssl)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        pipes = [
            asyncio.create_task(self._pipe(reader, up_writer, upstream=True)),
            asyncio.create_task(self._pipe(up_reader, writer, upstream=False)),
        ]
        self._tasks.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        for w in (writer, up_writer):
            w.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError, ssl.SSLError):
            while data := await reader.read(65536):
                if self.mode == "blackhole" or (self.mode == "drop_replies" and not upstream):
                    continue
                held = self._held_until - time.monotonic()
                if not upstream and held > 0:
                    await asyncio.sleep(held)
                writer.write(data)
                await writer.drain()

    def hold_replies(self, seconds: float) -> None:
        self._held_until = time.monotonic() + seconds

    async def refuse(self) -> None:
        """Drop every connection and stop listening: new connects are refused."""
        await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
