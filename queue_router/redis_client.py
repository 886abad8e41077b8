"""Redis clients as queue-router opens them: blocking pools, explicit timeouts, no hidden retries.

A leaf module: the backends and the router's placement memory both use it.

redis-py's asyncio pool raises "Too many connections" past its size; ours makes a caller
wait for a free connection (up to the timeout) instead, so a burst of concurrent jobs
queues up rather than failing. redis-py also retries commands by default: a retried write
whose reply was lost can apply twice and hides that the first may have landed, so
``retries=0`` (the backends) leaves doubt to the caller, who re-runs idempotent writes.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aredis
from redis.backoff import ExponentialBackoff, NoBackoff

__all__ = ["async_client", "sync_client"]


def _client_kwargs(timeout_s: float, max_connections: int) -> dict[str, Any]:
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": 0,
        "max_connections": max_connections,
        "timeout": timeout_s,  # wait this long for a free pooled connection
    }


def async_client(
    url: str, timeout_s: float, max_connections: int = 50, *, retries: int = 0
) -> aredis.Redis:
    """A client whose pool makes callers wait for a connection instead of failing."""
    from redis.asyncio.retry import Retry

    backoff = ExponentialBackoff() if retries else NoBackoff()
    pool = aredis.BlockingConnectionPool.from_url(
        url, retry=Retry(backoff, retries), **_client_kwargs(timeout_s, max_connections)
    )
    return aredis.Redis.from_pool(pool)  # closing the client closes its pool


def sync_client(url: str, timeout_s: float, max_connections: int = 50) -> redis.Redis:
    from redis.retry import Retry

    pool = redis.BlockingConnectionPool.from_url(
        url, retry=Retry(NoBackoff(), 0), **_client_kwargs(timeout_s, max_connections)
    )
    return redis.Redis.from_pool(pool)
