"""Run a worker's shadow relay in the test's own process until Redis holds no copy."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import redis
from temporalio.client import Client

from backends.temporal import TemporalBackend
from queue_router.connections.redis_client import async_client
from queue_router.shadow.handoff import INTENTS_KEY
from queue_router.shadow.relay import ShadowRelay


def url_of(redis_db: redis.Redis) -> str:
    """The URL of the test's Redis, for a client of another kind."""
    return "redis://{host}:{port}".format(**redis_db.connection_pool.connection_kwargs)


def relay_for(
    client: Client, redis_db: redis.Redis, backend: TemporalBackend | None = None, **options: Any
) -> ShadowRelay:
    """A relay on the test's Redis that starts copies with ``client`` (or ``backend``)."""
    backend = backend or TemporalBackend(client=client)
    redis = async_client(url_of(redis_db), 5.0, decode_responses=True)
    return ShadowRelay(redis, backend, block_s=0.2, **options)


@contextlib.asynccontextmanager
async def running(relay: ShadowRelay) -> AsyncIterator[ShadowRelay]:
    """``relay`` running in the background; stopped and closed on exit."""
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield relay
    finally:
        stop.set()
        await task
        await relay.aclose()


async def relay_once(client: Client, redis_db: redis.Redis, within_s: float = 30) -> None:
    """Relay until every handed-off copy is started (the stream is empty), or fail."""
    async with running(relay_for(client, redis_db)), asyncio.timeout(within_s):
        await until_relayed(redis_db)


async def until(check: Callable[[], object]) -> None:
    """Return once ``check()`` is true, looking every 50 ms (callers bound the wait)."""
    while True:
        if check():
            return
        await asyncio.sleep(0.05)


def copies_waiting(redis_db: redis.Redis | redis.RedisCluster) -> int:
    """The copies in the stream, counted entry by entry (not by the handoff's own count)."""
    entries: Any = redis_db.xrange(INTENTS_KEY)
    return sum(int(fields["n"]) for _, fields in entries)


async def until_relayed(redis_db: redis.Redis) -> None:
    """Return once Redis holds no handed-off copy (a copy leaves when it has an answer)."""
    await until(lambda: not redis_db.xlen(INTENTS_KEY))
