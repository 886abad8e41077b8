"""Builds the real backends from ``Settings``: the only place that maps settings to them."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client
from temporalio.service import TLSConfig

from backends.bull import BullBackend
from backends.redis_list import ListBackend
from backends.rq import RQBackend
from backends.temporal import TemporalBackend
from queue_router.config import Settings
from queue_router.connections.redis_client import AsyncRedis, async_client
from queue_router.contract import Backend
from queue_router.placements import RedisPlacementMemory

__all__ = [
    "api_key",
    "backends_from_settings",
    "control_client",
    "memory_from_settings",
    "temporal_backend",
    "tls_config",
]


def tls_config(settings: Settings) -> bool | TLSConfig:
    """The Temporal TLS config, reading the files named by the TEMPORAL_*_PATH vars."""
    if not settings.temporal.temporal_tls_enabled:
        return False

    def read(path: object) -> bytes | None:
        return path.read_bytes() if path is not None else None  # type: ignore[attr-defined]

    return TLSConfig(
        server_root_ca_cert=read(settings.temporal.temporal_server_root_ca_cert_path),
        domain=settings.temporal.temporal_server_name,
        client_cert=read(settings.temporal.temporal_client_cert_path),
        client_private_key=read(settings.temporal.temporal_client_private_key_path),
    )


def api_key(settings: Settings) -> str | None:
    """The Temporal API key's value, for the one call that needs it (the client connect)."""
    secret = settings.temporal.temporal_api_key
    return secret.get_secret_value() if secret is not None else None


def control_client(settings: Settings) -> AsyncRedis:
    """The Redis client of the runtime control (strings in, strings out)."""
    redis = settings.redis
    return async_client(
        redis.redis_url, redis.redis_timeout_ms / 1000, max_connections=4, retries=1,
        tls=redis.tls(), decode_responses=True, cluster_nodes=redis.cluster_nodes(),
    )  # fmt: skip


def memory_from_settings(settings: Settings) -> RedisPlacementMemory:
    """The placement memory every router instance on this Redis shares."""
    return RedisPlacementMemory(
        settings.redis.redis_url,
        ttl_s=settings.routing.placement_ttl_s,
        timeout_s=settings.redis.redis_timeout_ms / 1000,
        tls=settings.redis.tls(),
        cluster_nodes=settings.redis.cluster_nodes(),
    )


def backends_from_settings(settings: Settings) -> dict[str, Backend]:
    """One backend of each kind; unused ones cost nothing until first used.

    On Redis Cluster there is no RQ backend (settings refuse RQ queues there).
    """
    redis = settings.redis
    common: dict[str, Any] = {
        "timeout_s": redis.redis_timeout_ms / 1000, "require_noeviction": redis.require_noeviction,
        "tls": redis.tls(),
    }  # fmt: skip
    nodes = redis.cluster_nodes()
    backends: dict[str, Backend] = {
        "bull": BullBackend(
            redis.redis_url, prefix=redis.bull_prefix, cluster_nodes=nodes, **common
        ),
        "temporal": temporal_backend(settings),
        "list": ListBackend(
            redis.redis_url, id_ttl_s=redis.list_id_ttl_s, cluster_nodes=nodes, **common
        ),
    }
    if not nodes:
        backends["rq"] = RQBackend(redis.redis_url, serializer=redis.rq_serializer, **common)
    return backends


def temporal_backend(settings: Settings, client: Client | None = None) -> TemporalBackend:
    """The Temporal backend (the router's, the migration tool's, the shadow relay's) from
    the settings; on ``client`` when given (a worker's own)."""
    temporal = settings.temporal
    return TemporalBackend(
        temporal.temporal_cluster_url,
        namespace=temporal.temporal_namespace,
        tls=tls_config(settings),
        rpc_timeout_s=temporal.temporal_rpc_timeout_ms / 1000,
        retry_s=temporal.temporal_retry_ms / 1000,
        api_key=api_key(settings),
        client=client,
    )
