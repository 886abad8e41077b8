"""Builds the real backends from ``Settings``: the only place that maps settings to them."""

from __future__ import annotations

from temporalio.service import TLSConfig

from backends.bull import BullBackend
from backends.rq import RQBackend
from backends.temporal import TemporalBackend
from queue_router.config import Settings
from queue_router.contract import Backend
from queue_router.placements import RedisPlacementMemory

__all__ = ["backends_from_settings", "memory_from_settings", "tls_config"]


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


def memory_from_settings(settings: Settings) -> RedisPlacementMemory:
    """The placement memory every router instance on this Redis shares."""
    return RedisPlacementMemory(
        settings.redis.redis_url,
        ttl_s=settings.routing.placement_ttl_s,
        timeout_s=settings.redis.redis_timeout_ms / 1000,
    )


def backends_from_settings(settings: Settings) -> dict[str, Backend]:
    """One backend of each kind; unused ones cost nothing until first used."""
    redis_timeout = settings.redis.redis_timeout_ms / 1000
    return {
        "bull": BullBackend(
            settings.redis.redis_url,
            prefix=settings.redis.bull_prefix,
            timeout_s=redis_timeout,
            require_noeviction=settings.redis.require_noeviction,
        ),
        "rq": RQBackend(
            settings.redis.redis_url,
            serializer=settings.redis.rq_serializer,
            timeout_s=redis_timeout,
            require_noeviction=settings.redis.require_noeviction,
        ),
        "temporal": TemporalBackend(
            settings.temporal.temporal_cluster_url,
            namespace=settings.temporal.temporal_namespace,
            tls=tls_config(settings),
            rpc_timeout_s=settings.temporal.temporal_rpc_timeout_ms / 1000,
            retry_s=settings.temporal.temporal_retry_ms / 1000,
        ),
    }
