"""A TLS-terminating loopback proxy with certificates made in the test (trustme).

``TLSProxy(target_port, ca, require_client_cert=True, alpn=["h2"])`` accepts TLS on a
free port, optionally requires a client certificate signed by ``ca``, and forwards the
plaintext to ``127.0.0.1:target_port``: a TLS Redis or (with ALPN ``h2``) a TLS Temporal
frontend in front of servers that have no TLS of their own. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import trustme


class Certificates:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as files."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.client = self.ca.issue_cert("queue-router-client")
        self.ca_path = directory / "ca.pem"
        self.client_cert_path = directory / "client.pem"
        self.client_key_path = directory / "client.key"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.client.cert_chain_pems[0].write_to_path(str(self.client_cert_path))
        self.client.private_key_pem.write_to_path(str(self.client_key_path))
        other = trustme.CA()  # a CA that signed nothing here: "the wrong CA"
        self.wrong_ca_path = directory / "wrong-ca.pem"
        other.cert_pem.write_to_path(str(self.wrong_ca_path))


class TLSProxy:
    def __init__(
        self,
        target_port: int,
        certs: Certificates,
        *,
        require_client_cert: bool = True,
        alpn: list[str] | None = None,
    ) -> None:
        self.target_port = target_port
        self.port = 0
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certs.server.configure_cert(context)
        if require_client_cert:
            certs.ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        if alpn:
            context.set_alpn_protocols(alpn)
        self._context = context
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self._context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        pipes = [
            asyncio.create_task(_pipe(reader, up_writer)),
            asyncio.create_task(_pipe(up_reader, writer)),
        ]
        self._tasks.update(pipes)
        await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        for task in pipes:
            task.cancel()
        for w in (writer, up_writer):
            with contextlib.suppress(Exception):
                w.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.CancelledError, ssl.SSLError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
