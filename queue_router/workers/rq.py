"""``queue-router rq-worker``: an RQ worker for the legacy path, on the same processors.

Its jobs call the registered processors (``QUEUE_ROUTER_PROCESSORS``) as the Temporal
worker's activities do (``workers.temporal``), sharing their side-effect claims.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis
from rq import Worker as RQWorker

from queue_router.config import Settings
from queue_router.connections.redact import redact_url
from queue_router.connections.redis_client import tls_kwargs
from queue_router.errors import ConfigError, StartupError
from queue_router.processors.registry import import_processor_modules

__all__ = ["run_rq_worker"]


def run_rq_worker(
    settings: Settings, queues: list[str], *, burst: bool = False, paths: Sequence[str] = ()
) -> bool:
    """An RQ worker (with its scheduler, for delays and retry intervals) on the queues."""
    if not queues:
        raise ConfigError("rq-worker needs at least one --queue")
    import_processor_modules(settings.worker.processor_modules, paths)
    tls = settings.redis.tls()
    connection = redis.Redis.from_url(settings.redis.redis_url, **tls_kwargs(tls))
    try:
        connection.ping()
    except redis.RedisError as exc:
        raise StartupError(
            f"cannot reach Redis at REDIS_URL={redact_url(settings.redis.redis_url)}: {exc}"
        ) from exc
    worker = RQWorker(queues, connection=connection, serializer=settings.redis.rq_serializer)
    return bool(worker.work(burst=burst, with_scheduler=True))
