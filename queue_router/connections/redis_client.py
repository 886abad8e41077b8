"""Redis clients as queue-router opens them: blocking pools, explicit timeouts, no hidden retries.

A leaf module: the backends and the router's placement memory both use it.

redis-py's asyncio pool raises "Too many connections" past its size; ours makes a caller
wait for a free connection (up to the timeout) instead, so a burst of concurrent jobs
queues up rather than failing. redis-py also retries commands by default: a retried write
whose reply was lost can apply twice and hides that the first may have landed, so
``retries=0`` (the backends) leaves doubt to the caller, who re-runs idempotent writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.exceptions import AuthenticationError, AuthorizationError

AsyncRedis = aredis.Redis | RedisCluster
"""A single Redis or a Redis Cluster: the commands queue-router uses work on both."""

__all__ = [
    "AsyncRedis",
    "ConnectionSetupError",
    "RedisTLS",
    "async_client",
    "connection_kwargs",
    "parse_nodes",
    "sync_client",
    "tls_kwargs",
]


class ConnectionSetupError(redis.ConnectionError):
    """The connection failed while it was being set up, before any command of ours was sent.

    A TLS server that refuses our certificate (or our lack of one) completes the TLS 1.3
    handshake from the client's side and then drops the connection: the client only sees
    a reset on its first read. That read happens during setup (redis-py's ``on_connect``
    handshake), so marking setup failures tells "never sent" apart from "sent, reply lost".
    """


_KEEP = (AuthenticationError, AuthorizationError)  # a credentials problem says so itself


def _dropped_in_setup(connection: Any, exc: BaseException) -> ConnectionSetupError:
    return ConnectionSetupError(
        f"Error connecting to {connection.host}:{connection.port}: the connection was "
        f"dropped while being set up ({exc})"
    )


async def _setup_async(connection: Any) -> None:
    try:
        await connection.on_connect()
    except (redis.ConnectionError, OSError) as exc:
        if isinstance(exc, _KEEP):
            raise
        raise _dropped_in_setup(connection, exc) from exc


def _setup_sync(connection: Any) -> None:
    try:
        connection.on_connect()
    except (redis.ConnectionError, OSError) as exc:
        if isinstance(exc, _KEEP):
            raise
        raise _dropped_in_setup(connection, exc) from exc


@dataclass(frozen=True, slots=True)
class RedisTLS:
    """Files for TLS to Redis (``rediss://``): the CA to trust, our certificate and key."""

    ca_cert_path: Path | None = None
    cert_path: Path | None = None
    key_path: Path | None = None

    def kwargs(self) -> dict[str, Any]:
        files = {
            "ssl_ca_certs": self.ca_cert_path,
            "ssl_certfile": self.cert_path,
            "ssl_keyfile": self.key_path,
        }
        return {name: str(path) for name, path in files.items() if path is not None}


def tls_kwargs(tls: RedisTLS | None) -> dict[str, Any]:
    """redis-py's ``ssl_*`` arguments for ``tls``; none for a plain connection."""
    return tls.kwargs() if tls else {}


def connection_kwargs(
    timeout_s: float, *, tls: RedisTLS | None = None, max_connections: int = 50
) -> dict[str, Any]:
    """Keyword arguments of every Redis connection pool queue-router opens."""
    return {
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "health_check_interval": 0,
        "max_connections": max_connections,
        "timeout": timeout_s,  # wait this long for a free pooled connection
        **tls_kwargs(tls),
    }


def parse_nodes(text: str) -> list[tuple[str, int]]:
    """``REDIS_CLUSTER_NODES``: ``host:port,host:port`` -> ``[(host, port), ...]``."""
    nodes = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{part!r} is not host:port")
        nodes.append((host, int(port)))
    if not nodes:
        raise ValueError("no host:port given")
    return nodes


def async_client(
    url: str,
    timeout_s: float,
    max_connections: int = 50,
    *,
    retries: int = 0,
    tls: RedisTLS | None = None,
    decode_responses: bool = False,
    cluster_nodes: Sequence[tuple[str, int]] = (),
) -> AsyncRedis:
    """A client whose pool makes callers wait for a connection instead of failing.

    With ``cluster_nodes`` (seeds), a Redis Cluster client: ``url`` then gives only the
    scheme (``rediss://`` for TLS) and the credentials.
    """
    from redis.asyncio.retry import Retry

    backoff = ExponentialBackoff() if retries else NoBackoff()
    if cluster_nodes:
        parts = urlsplit(url)
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in cluster_nodes],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ssl=url.startswith("rediss://"),
            retry=Retry(backoff, retries),
            decode_responses=decode_responses,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            # redis-py's cluster client has no blocking pool: past this many connections
            # to one node a call fails at once, so the bound is high, not a queue.
            max_connections=max(max_connections, 1000),
            require_full_coverage=False,
            **tls_kwargs(tls),
        )
    pool = aredis.BlockingConnectionPool.from_url(
        url,
        retry=Retry(backoff, retries),
        decode_responses=decode_responses,
        redis_connect_func=_setup_async,
        **connection_kwargs(timeout_s, tls=tls, max_connections=max_connections),
    )
    return aredis.Redis.from_pool(pool)  # closing the client closes its pool


def sync_client(
    url: str,
    timeout_s: float,
    max_connections: int = 50,
    *,
    retries: int = 0,
    tls: RedisTLS | None = None,
) -> redis.Redis:
    from redis.retry import Retry

    backoff = ExponentialBackoff() if retries else NoBackoff()
    pool = redis.BlockingConnectionPool.from_url(
        url,
        retry=Retry(backoff, retries),
        redis_connect_func=_setup_sync,
        **connection_kwargs(timeout_s, tls=tls, max_connections=max_connections),
    )
    return redis.Redis.from_pool(pool)
