"""What the two Redis backends (Bull and RQ) share: client settings, error triage, preflight.

redis-py retries commands by default; we turn that off and resolve doubt ourselves,
because a retry that fails to connect would hide that the first attempt may have landed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis
from redis.backoff import NoBackoff

from queue_router.errors import BackendUnavailable, EnqueueOutcomeUnknown, QueueRouterError

log = logging.getLogger("queue_router.redis")

T = TypeVar("T")

__all__ = ["async_client", "eviction_preflight", "sync_client", "write_or_classify"]


def _client_kwargs(timeout_s: float, max_connections: int) -> dict[str, Any]:
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": 0,
        "max_connections": max_connections,
        "timeout": timeout_s,  # wait this long for a free pooled connection
    }


def async_client(url: str, timeout_s: float, max_connections: int = 50) -> aredis.Redis:
    """A client whose pool makes callers wait for a connection instead of failing."""
    from redis.asyncio.retry import Retry

    pool = aredis.BlockingConnectionPool.from_url(
        url, retry=Retry(NoBackoff(), 0), **_client_kwargs(timeout_s, max_connections)
    )
    return aredis.Redis.from_pool(pool)  # closing the client closes its pool


def sync_client(url: str, timeout_s: float, max_connections: int = 50) -> redis.Redis:
    from redis.retry import Retry

    pool = redis.BlockingConnectionPool.from_url(
        url, retry=Retry(NoBackoff(), 0), **_client_kwargs(timeout_s, max_connections)
    )
    return redis.Redis.from_pool(pool)


def never_connected(exc: BaseException) -> bool:
    """True when the command provably never reached Redis.

    Refused or unresolvable connects, a server still loading its data, and a pool with
    no free connection: in each case no byte of the command was sent.
    """
    if isinstance(exc, redis.BusyLoadingError | redis.MaxConnectionsError):
        return True
    text = str(exc)
    return isinstance(exc, redis.ConnectionError) and any(
        marker in text
        for marker in ("connecting to", "Connection refused", "No connection available")
    )


async def write_or_classify(
    backend: str,
    job_id: str,
    write: Callable[[], Awaitable[T]],
    exists: Callable[[], Awaitable[bool]],
) -> T | None:
    """Run ``write``; on failure, decide between "not written" and "unknown".

    Returns the write's result, or ``None`` when the write failed ambiguously but the
    lookup shows the job is there. Raises ``BackendUnavailable`` when the job is
    provably absent and ``EnqueueOutcomeUnknown`` when we cannot tell.
    """
    try:
        return await write()
    except QueueRouterError:
        raise
    except redis.ResponseError as exc:
        raise BackendUnavailable(backend, f"Redis rejected the write: {exc}", cause=exc) from exc
    except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
        if never_connected(exc):
            raise BackendUnavailable(backend, f"Redis unreachable: {exc}", cause=exc) from exc
        try:
            found = await exists()
        except (redis.RedisError, OSError) as lookup_exc:
            raise EnqueueOutcomeUnknown(
                backend, job_id, f"{exc}; and the lookup failed: {lookup_exc}", cause=exc
            ) from exc
        if found:
            return None
        raise BackendUnavailable(
            backend, f"write failed ({exc}) and the job is absent", cause=exc
        ) from exc


async def eviction_preflight(
    config_get: Callable[[], Awaitable[Mapping[Any, Any]]], *, require: bool
) -> None:
    """Warn, or refuse when ``require``, if Redis may evict queue keys (jobs would vanish).

    A Redis that is down now is not an error here: each enqueue reports that itself.
    """
    try:
        config = await config_get()
    except (redis.RedisError, OSError):
        return
    policy = str(config.get("maxmemory-policy", ""))
    if policy == "noeviction":
        return
    message = (
        f"Redis maxmemory-policy is {policy!r}: under memory pressure Redis may evict job "
        "keys and lose jobs; set it to 'noeviction'"
    )
    if require:
        raise BackendUnavailable("redis", message + " (QUEUE_ROUTER_REQUIRE_NOEVICTION=true)")
    log.warning(message)
