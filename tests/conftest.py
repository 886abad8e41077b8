"""Session fixtures: a real redis-server and a real Temporal dev server on free ports.

Nothing is mocked or skipped: if a binary is missing, the fixture fails with the reason.
Each test gets a flushed Redis database and a fresh Temporal task queue.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
import redis
from temporalio.client import Client

from queue_router import QueueRouter, Settings
from queue_router.devservers import RedisServer, TemporalServer, connect_temporal


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[TemporalServer]:
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
        return Settings(**base)

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
