"""Read-only views for operators: ``stats``, ``health`` (+ the shadow handoff's backlog),
``check-stuck``, ``validate``.

Each returns plain data (rows of dicts) so the command can print a table or JSON, and a
probe can use the exit code. Nothing here writes to Redis or Temporal.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from queue_router.connections.redis_client import AsyncRedis
from queue_router.migration import BullQueue
from queue_router.migration.migrate import Migrator
from queue_router.migration.rq import RQQueue
from queue_router.shadow.handoff import backlog

__all__ = ["check_stuck", "health", "shadow_handoff", "stats", "temporal_counts", "validate"]

_STATUSES = ("Running", "Completed", "Failed", "Canceled", "Terminated", "TimedOut")


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def temporal_counts(client: Client, queue: str, extra: str = "") -> dict[str, int]:
    """Workflows of one queue (id prefix ``<queue>/``) by execution status."""
    base = f"WorkflowId STARTS_WITH '{queue}/'" + (f" AND {extra}" if extra else "")
    return {
        status.lower(): (
            await client.count_workflows(f"{base} AND ExecutionStatus = '{status}'")
        ).count
        for status in _STATUSES
    }


async def stats(
    migrator: Migrator, client: Client | None, queues: list[str]
) -> list[dict[str, Any]]:
    """Per queue: routing, legacy depth by state, Temporal workflows by status (``None``
    when Temporal is unreachable: the Redis side is still worth seeing)."""
    rows = []
    for name in queues:
        config = migrator.settings.queue(name)
        legacy = await migrator.legacy_queue(config).counts()
        rows.append(
            {
                "queue": name,
                "mode": config.mode.value,
                "percentage": config.route("").percentage,
                "legacy": config.legacy,
                "legacy_counts": legacy,
                "temporal": await temporal_counts(client, name) if client else None,
            }
        )
    return rows


async def health(
    redis_client: AsyncRedis, client: Client | None, error: str | None, task_queues: list[str]
) -> list[dict[str, Any]]:
    """One row per check: Redis, Temporal + namespace, pollers per task queue."""
    checks: list[dict[str, Any]] = []
    try:
        await redis_client.ping()
        checks.append({"check": "redis", "ok": True, "detail": "PING ok"})
    except Exception as exc:
        checks.append({"check": "redis", "ok": False, "detail": str(exc)})
    if client is None:
        checks.append({"check": "temporal", "ok": False, "detail": error or "not connected"})
        return checks
    checks.append(
        {"check": "temporal", "ok": True, "detail": f"namespace {client.namespace!r} answers"}
    )
    for task_queue in task_queues:
        pollers = []
        for kind in (
            TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        ):
            response = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=client.namespace,
                    task_queue=TaskQueue(name=task_queue),
                    task_queue_type=kind,
                )
            )
            pollers.append(len(response.pollers))
        ok = all(pollers)
        detail = f"{pollers[0]} workflow / {pollers[1]} activity pollers"
        checks.append(
            {
                "check": f"pollers {task_queue}",
                "ok": ok,
                "detail": detail if ok else f"{detail}: no worker is polling",
            }
        )
    return checks


async def shadow_handoff(
    redis_client: AsyncRedis, *, backlog_max: int, backlog_max_bytes: int, stale_s: float
) -> dict[str, Any]:
    """The shadow copies routers handed off that no worker has started: not ok when the
    stream is full (new copies are dropped), or nine tenths full in bytes (a batch of
    copies that does not fit is dropped before the bytes reach the bound), or its oldest
    copy waited past ``stale_s``."""
    try:
        waiting = await backlog(redis_client)
    except Exception as exc:
        return {"check": "shadow handoff", "ok": False, "detail": str(exc)}
    if not waiting.waiting:
        return {"check": "shadow handoff", "ok": True, "detail": "no shadow copy waits"}
    detail = (
        f"{waiting.waiting} shadow copies ({waiting.size} bytes) wait for a worker "
        f"({waiting.taken} batches taken), the oldest for {waiting.oldest_s:.0f}s"
    )
    full = ("QUEUE_ROUTER_SHADOW_BACKLOG_MAX" if waiting.waiting >= backlog_max
            else "QUEUE_ROUTER_SHADOW_BACKLOG_MAX_BYTES" if waiting.size >= 0.9 * backlog_max_bytes
            else None)  # fmt: skip
    if full:
        return {"check": "shadow handoff", "ok": False,
                "detail": f"{detail}: full ({full}), new copies are dropped; is "
                          "`queue-router worker` running?"}  # fmt: skip
    if waiting.oldest_s > stale_s:
        return {"check": "shadow handoff", "ok": False,
                "detail": f"{detail}: none started in two retry intervals "
                          "(QUEUE_ROUTER_SHADOW_RETRY_MS); is `queue-router worker` running, "
                          "and can it reach Temporal?"}  # fmt: skip
    return {"check": "shadow handoff", "ok": True, "detail": detail}


async def check_stuck(
    migrator: Migrator, client: Client, queues: list[str], *, running_longer_than: timedelta
) -> list[dict[str, Any]]:
    """Active legacy jobs whose lock expired, and workflows running past the threshold."""
    stuck: list[dict[str, Any]] = []
    cutoff = _iso(datetime.now(UTC) - running_longer_than)
    for name in queues:
        queue = migrator.legacy_queue(migrator.settings.queue(name))
        for job_id in await queue.ids("active"):
            if isinstance(queue, BullQueue) and await queue.lock_ttl_ms(job_id) <= 0:
                stuck.append(
                    {
                        "queue": name,
                        "kind": "bull-active-lock-expired",
                        "id": job_id,
                        "detail": "in active with no lock: its worker died",
                    }
                )
        if isinstance(queue, RQQueue):
            for job_id, expiry in await queue.started_expiries():
                if expiry < time.time():
                    stuck.append(
                        {
                            "queue": name,
                            "kind": "rq-started-expired",
                            "id": job_id,
                            "detail": "started registry entry past its heartbeat",
                        }
                    )
        query = (
            f"WorkflowId STARTS_WITH '{name}/' AND ExecutionStatus = 'Running' "
            f"AND StartTime < '{cutoff}'"
        )
        async for wf in client.list_workflows(query):
            stuck.append(
                {
                    "queue": name,
                    "kind": "workflow-running-long",
                    "id": wf.id,
                    "detail": f"running since {_iso(wf.start_time)}",
                }
            )
    return stuck


async def validate(
    migrator: Migrator,
    client: Client,
    queues: list[str],
    *,
    window: timedelta,
    max_rate_delta: float,
) -> list[dict[str, Any]]:
    """Per queue: legacy vs Temporal finished/failed counts and failure rates in the window."""
    now = datetime.now(UTC)
    since_ms = int((now - window).timestamp() * 1000)
    rows = []
    for name in queues:
        queue = migrator.legacy_queue(migrator.settings.queue(name))
        legacy_done, legacy_failed = await queue.finished_since(since_ms)
        closed = await temporal_counts(client, name, f"CloseTime > '{_iso(now - window)}'")
        running = (await temporal_counts(client, name))["running"]
        t_failed = closed["failed"] + closed["timedout"] + closed["terminated"]
        t_total = t_failed + closed["completed"]
        legacy_rate = (
            legacy_failed / (legacy_done + legacy_failed) if legacy_done + legacy_failed else 0.0
        )
        temporal_rate = t_failed / t_total if t_total else 0.0
        ok = temporal_rate <= legacy_rate + max_rate_delta
        rows.append(
            {
                "queue": name,
                "legacy_depth": (await queue.counts())["waiting"],
                "legacy_finished": legacy_done + legacy_failed,
                "legacy_failure_rate": round(legacy_rate, 4),
                "temporal_running": running,
                "temporal_closed": t_total,
                "temporal_failure_rate": round(temporal_rate, 4),
                "ok": ok,
            }
        )
    return rows
