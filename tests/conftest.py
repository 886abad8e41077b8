"""Session fixtures: a real redis-server and a real Temporal dev server on free ports.

Nothing is mocked or skipped: if a binary is missing, the fixture fails with the reason.
Each test gets a flushed Redis database and a fresh Temporal task queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import redis
from temporalio.client import Client

from queue_router import QueueRouter, Settings
from queue_router.processors import Registry
from queue_router.testing.devservers import (
    RedisClusterServer,
    RedisServer,
    TemporalServer,
    connect_temporal,
)
from queue_router.workers.temporal import run_worker
from tests.sinks import HttpSink, SmtpSink


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[TemporalServer]:
    with TemporalServer() as server:
        yield server


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, for tests that kill it."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def own_temporal() -> Iterator[TemporalServer]:
    """A Temporal dev server of the test's own, for tests that kill it."""
    with TemporalServer() as server:
        yield server


@pytest.fixture(scope="session")
async def temporal_client(temporal_server: TemporalServer) -> Client:
    return await connect_temporal(temporal_server.target)


@pytest.fixture
def redis_db(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def make_settings(
    redis_server: RedisServer, temporal_server: TemporalServer, task_queue: str
) -> Callable[..., Settings]:
    """Settings pointing at the session servers; keyword arguments override fields."""

    def build(**fields: Any) -> Settings:
        base: dict[str, Any] = {
            "redis_url": redis_server.url,
            "temporal_cluster_url": temporal_server.target,
            "temporal_task_queue": task_queue,
            "temporal_retry_ms": 500,
        }
        base.update(fields)
        return Settings.from_env(**base)

    return build


@pytest.fixture
async def make_router(
    make_settings: Callable[..., Settings], redis_db: redis.Redis
) -> AsyncIterator[Callable[..., Any]]:
    """Open routers on the real servers; all are closed after the test."""
    opened: list[QueueRouter] = []

    async def build(**fields: Any) -> QueueRouter:
        router = QueueRouter(make_settings(**fields))
        await router.startup()
        opened.append(router)
        return router

    yield build
    for router in opened:
        await router.aclose()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def smtp(smtp_server: SmtpSink) -> SmtpSink:
    smtp_server.clear()
    return smtp_server


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpSink]:
    sink = HttpSink()
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture
def http(http_server: HttpSink) -> HttpSink:
    http_server.reset()
    return http_server


@pytest.fixture
async def start_worker(
    temporal_client: Client, make_settings: Callable[..., Settings], redis_db: redis.Redis
) -> AsyncIterator[Callable[..., Any]]:
    """Run in-process Temporal workers on the test's task queue; stopped after the test.

    ``await start_worker(registry, **settings_fields)`` returns the worker's settings.
    """
    running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(registry: Registry, **fields: Any) -> Settings:
        settings = make_settings(**fields)
        stop, ready = asyncio.Event(), asyncio.Event()
        task = asyncio.create_task(
            run_worker(
                settings, stop=stop, registry=registry, client=temporal_client, on_ready=ready.set
            )
        )
        running.append((stop, task))
        await asyncio.wait_for(ready.wait(), 30)
        return settings

    yield start
    for stop, task in running:
        stop.set()
        await task


REPO = Path(__file__).resolve().parent.parent


def worker_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Env vars that point a worker subprocess at the test's servers and processors."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "QUEUE_ROUTER_"))}
    env.update(
        PYTHONPATH=str(REPO),
        REDIS_URL=settings.redis.redis_url,
        TEMPORAL_CLUSTER_URL=settings.temporal.temporal_cluster_url,
        TEMPORAL_TASK_QUEUE=settings.temporal.temporal_task_queue,
        QUEUE_ROUTER_PROCESSORS="activities.email,activities.webhook,tests.worker_processors",
    )
    env.update(extra)
    return env


@pytest.fixture
def spawn_worker() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start ``queue-router <args>`` subprocesses; any still running are stopped after."""
    started: list[Spawned] = []
    outputs = contextlib.ExitStack()

    def spawn(args: list[str], env: dict[str, str], cwd: Path = REPO) -> subprocess.Popen[bytes]:
        cli = Path(sys.executable).parent / "queue-router"
        output = outputs.enter_context(tempfile.TemporaryFile())  # noqa: SIM115 (closed after)
        process = Spawned([str(cli), *args], env=env, cwd=cwd, stdout=output,
                          stderr=subprocess.STDOUT)  # fmt: skip
        process.output = output
        started.append(process)
        return process

    with outputs:
        yield spawn
        for process in started:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


class Spawned(subprocess.Popen[bytes]):
    """A subprocess whose output goes to a file, not a pipe: one that nobody reads while it
    runs (killed mid-migration, or a worker left running) never stops on a full pipe.
    ``communicate`` waits for it and returns that output, as with a pipe."""

    output: IO[bytes]

    def communicate(  # type: ignore[override]
        self, input: bytes | None = None, timeout: float | None = None
    ) -> tuple[bytes, None]:
        self.wait(timeout)
        self.output.seek(0)
        return self.output.read(), None


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServer]:
    """A real 3-master Redis Cluster (started only by the tests that ask for it)."""
    with RedisClusterServer() as cluster:
        yield cluster


@pytest.fixture
def cluster_db(redis_cluster: RedisClusterServer) -> Iterator[redis.RedisCluster]:
    """A client of the cluster, flushed on every master before the test."""
    nodes = [
        redis.cluster.ClusterNode("127.0.0.1", node.port)  # type: ignore[no-untyped-call]
        for node in redis_cluster.nodes
    ]
    client = redis.RedisCluster(startup_nodes=nodes, decode_responses=True)
    client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    yield client
    client.close()


CLUSTER_PREFIX = "{bull}"


def cluster_fields(cluster: RedisClusterServer) -> dict[str, Any]:
    """Settings fields that point the router at the cluster with a hash-tagged prefix."""
    return {
        "redis_url": "redis://127.0.0.1/0",  # scheme and credentials only
        "redis_cluster_nodes": cluster.seeds,
        "bull_prefix": CLUSTER_PREFIX,
    }


def run_cli(
    args: list[str], env: dict[str, str], cwd: Path = REPO, timeout_s: float = 90
) -> subprocess.CompletedProcess[str]:
    """``queue-router <args>`` as an operator runs it: only ``env`` configures it."""
    ours = ("TEMPORAL_", "QUEUE_ROUTER_", "REDIS_", "BULL_")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    command = [str(Path(sys.executable).parent / "queue-router"), *args]
    return subprocess.run(command, env={**clean, **env}, cwd=cwd, capture_output=True,
                          text=True, timeout=timeout_s)  # fmt: skip
