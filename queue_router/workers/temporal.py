"""``queue-router worker``: the Temporal worker for the catalogue's workflows.

It runs the registered processors (``QUEUE_ROUTER_PROCESSORS``) and shares the
side-effect claims in ``REDIS_URL`` with the legacy workers (``workers.rq``,
``workers.lists``), so during dual-write whichever runs a job first performs its effect
and the other replays the recorded result. It also runs the shadow relay, which starts
the shadow copies routers handed off (``shadow.relay``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.common import VersioningBehavior, WorkerDeploymentVersion
from temporalio.runtime import Runtime
from temporalio.service import RPCError
from temporalio.worker import Worker, WorkerDeploymentConfig

from activities.shadow import ShadowActivities
from activities.temporal import ProcessorActivities
from queue_router.config import Settings
from queue_router.connections.diagnose import short_reason, temporal_tls_hint
from queue_router.errors import StartupError
from queue_router.evidence.ledger import Evidence
from queue_router.processors.effects import EffectClaims
from queue_router.processors.registry import Registry, default_registry, import_processor_modules
from queue_router.shadow.relay import ShadowRelay
from queue_router.telemetry.metrics_server import MetricsServer, loopback_port, sdk_runtime
from queue_router.telemetry.sdk_logs import core_runtime
from queue_router.wiring import api_key, control_client, temporal_backend, tls_config
from workflows import ALL_WORKFLOWS
from workflows.versioned import VERSIONED_WORKFLOWS

__all__ = ["connect_worker_client", "run_worker"]

log = logging.getLogger("queue_router.worker")


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while ``Worker(...)`` validates workflows in the sandbox.

    On Python 3.10/3.11 a GC finalizer that imports a module (a never-awaited coroutine's
    warning) inside the sandbox importer's module lock raises ``KeyError(<thread id>)``,
    and the worker fails with "Failed validating workflow" (CPython bug 91351, seen by the
    SDK as temporalio/sdk-python#585). Validation is synchronous and short; pausing the
    collector for it removes the window.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


async def connect_worker_client(settings: Settings, *, runtime: Runtime | None = None) -> Client:
    """A connected client whose namespace exists, or ``StartupError`` saying why not."""
    target, namespace = settings.temporal.temporal_cluster_url, settings.temporal.temporal_namespace
    tls = tls_config(settings)
    try:
        client = await Client.connect(
            target, namespace=namespace, tls=tls, api_key=api_key(settings),
            runtime=runtime or core_runtime(),
        )  # fmt: skip
    except RuntimeError as exc:
        hint = temporal_tls_hint(exc, tls=bool(tls))
        raise StartupError(
            f"cannot reach Temporal at {target} (namespace {namespace!r}; set "
            f"TEMPORAL_CLUSTER_URL): {short_reason(exc)}{hint}"
        ) from exc
    try:
        await client.count_workflows()
    except RPCError as exc:
        raise StartupError(f"Temporal at {target} refused namespace {namespace!r}: {exc}") from exc
    return client


async def run_worker(
    settings: Settings,
    *,
    stop: asyncio.Event,
    queues: list[str] | None = None,
    registry: Registry = default_registry,
    client: Client | None = None,
    on_ready: Callable[[], None] | None = None,
    metrics_port: int | None = None,
    paths: Sequence[str] = (),
) -> None:
    """Run workers on the task queues until ``stop`` is set, then shut down gracefully.

    In-flight activities get ``QUEUE_ROUTER_WORKER_SHUTDOWN_GRACE_MS`` to finish; the
    server hands unfinished workflow tasks to another worker.
    """
    if registry is default_registry:
        import_processor_modules(settings.worker.processor_modules, paths)
    metrics: MetricsServer | None = None
    if metrics_port is not None:  # ours and the SDK's on one port
        sdk_port = loopback_port()
        client = client or await connect_worker_client(settings, runtime=sdk_runtime(sdk_port))
        metrics = MetricsServer(metrics_port, sdk_port=sdk_port)
        log.info("metrics on :%d/metrics", metrics.port)
    client = client or await connect_worker_client(settings)
    claims = EffectClaims.from_url(
        settings.redis.redis_url,
        tls=settings.redis.tls(),
        cluster_nodes=settings.redis.cluster_nodes(),
        lease_ms=settings.worker.effect_lease_ms,
        ttl_s=settings.worker.effect_ttl_s,
    )
    shared = control_client(settings)  # legacy lookups and the rollout figures
    versioned = settings.worker.temporal_worker_deployment_name is not None
    activities = ProcessorActivities(settings, claims, registry, Evidence(shared))
    shadow = ShadowActivities(settings, shared)
    with _collector_paused():  # workflows are validated in the sandbox right here
        workers = [
            Worker(
                client,
                task_queue=queue,
                workflows=VERSIONED_WORKFLOWS if versioned else ALL_WORKFLOWS,
                activities=[activities.run, shadow.compare],
                max_concurrent_workflow_tasks=settings.worker.temporal_max_concurrent_workflow_tasks,
                max_concurrent_activities=settings.worker.temporal_max_concurrent_activities,
                **_versioning(settings),
                graceful_shutdown_timeout=timedelta(
                    milliseconds=settings.worker.worker_shutdown_grace_ms
                ),
            )
            for queue in queues or settings.task_queues()
        ]
    running = [asyncio.create_task(worker.run()) for worker in workers]
    relay = ShadowRelay(
        control_client(settings), temporal_backend(settings, client),
        retry_s=settings.worker.shadow_retry_ms / 1000,
        block_s=min(1.0, settings.redis.redis_timeout_ms / 2000),  # a read outlives no timeout
    )  # fmt: skip
    relay_stop = asyncio.Event()
    relaying = asyncio.create_task(relay.run(relay_stop))
    log.info("worker polling %s (processors: %s)", [w.task_queue for w in workers],
             ", ".join(registry.queues()) or "none")  # fmt: skip
    if on_ready is not None:
        on_ready()
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait(
            [stopping, relaying, *running], return_when=asyncio.FIRST_COMPLETED
        )
        for task in done:
            if task is not stopping:
                task.result()  # a worker died: surface its error
    finally:
        stopping.cancel()
        relay_stop.set()  # no new shadow starts; those running finish beside the workers
        await asyncio.gather(*(w.shutdown() for w in workers), return_exceptions=True)
        await asyncio.gather(*running, return_exceptions=True)
        await asyncio.gather(relaying, return_exceptions=True)
        await relay.aclose()
        await claims.aclose()
        await shared.aclose()
        if metrics is not None:
            metrics.close()
    log.info("worker stopped")


def _versioning(settings: Settings) -> dict[str, Any]:
    """Worker Deployment versioning with a deployment name, else the plain build id.

    Versioned, the worker registers ``VERSIONED_WORKFLOWS``, where each workflow type
    declares how it follows new builds (see ``workflows.versioned``); auto-upgrade is the
    default for any other.
    """
    worker = settings.worker
    if worker.temporal_worker_deployment_name is None:
        return {"build_id": worker.temporal_worker_build_id}
    assert worker.temporal_worker_build_id is not None  # the settings insist
    version = WorkerDeploymentVersion(
        worker.temporal_worker_deployment_name, worker.temporal_worker_build_id
    )
    config = WorkerDeploymentConfig(
        version=version, use_worker_versioning=True,
        default_versioning_behavior=VersioningBehavior.AUTO_UPGRADE,
    )  # fmt: skip
    return {"deployment_config": config}
