"""Ramping a new worker build of a Temporal Worker Deployment, as a ``RampTarget``.

The share is the deployment's ramping percentage for the new build, then "current" at
100%, set through the Temporal API (the calls ``temporal worker deployment
set-ramping-version`` / ``set-current-version`` make). The evidence is Temporal's own
visibility data: closed workflows per build (``TemporalWorkerDeploymentVersion``), their
status and run time, the new build against the build that is current. A failed check
removes the ramp (the old build stays current), or makes the previous build current again
if the new one already was; every change is written to the audit trail
(``queue-router audit deployment:<name>``) and counted in ``queue_router_worker_ramp_total``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.deployment.v1 import RoutingConfig, WorkerDeploymentInfo
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import (
    DescribeTaskQueueRequest,
    DescribeWorkerDeploymentRequest,
    SetWorkerDeploymentCurrentVersionRequest,
    SetWorkerDeploymentRampingVersionRequest,
)
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from queue_router.control import RuntimeControl
from queue_router.errors import ConfigError
from queue_router.evidence.ledger import RunStats, ShadowCounts
from queue_router.evidence.rollout import Assessment, Thresholds, assess
from queue_router.telemetry.metrics import WORKER_RAMP

__all__ = ["BuildRamp", "Deployment", "Routing", "task_queue_builds"]

_ERRORS = {WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TIMED_OUT}
READY_WAIT_S = 30.0
"""How long a build change waits for a new build's workers to poll all task queues."""
_FINISHED = _ERRORS | {WorkflowExecutionStatus.COMPLETED}


@dataclass(frozen=True, slots=True)
class Routing:
    """Who gets a deployment's new work: the current build, and a ramping one with a share."""

    current: str | None
    ramping: str | None
    ramping_percentage: float
    current_since: float | None
    ramping_since: float | None
    previous: str | None
    """The build current before the current one (what ``--rollback`` restores)."""


def _epoch(stamp: object) -> float | None:
    seconds = getattr(stamp, "seconds", 0)
    return float(seconds) if seconds else None


class Deployment:
    """One Worker Deployment through the Temporal API."""

    def __init__(self, client: Client, name: str) -> None:
        self.client = client
        self.name = name

    async def _info(self) -> WorkerDeploymentInfo:
        request = DescribeWorkerDeploymentRequest(
            namespace=self.client.namespace, deployment_name=self.name
        )
        response = await self.client.workflow_service.describe_worker_deployment(request)
        return response.worker_deployment_info

    async def builds(self) -> set[str]:
        """The builds whose workers have polled (a version exists once it has pollers)."""
        return {s.deployment_version.build_id for s in (await self._info()).version_summaries}

    async def routing(self) -> Routing:
        info = await self._info()
        config: RoutingConfig = info.routing_config
        current = config.current_deployment_version.build_id or None
        ramping = config.ramping_deployment_version.build_id or None
        earlier = [
            (_epoch(s.last_current_time) or 0.0, s.deployment_version.build_id)
            for s in info.version_summaries
            if s.deployment_version.build_id != current and _epoch(s.last_current_time)
        ]
        return Routing(
            current, ramping, config.ramping_version_percentage if ramping else 0.0,
            _epoch(config.current_version_changed_time),
            _epoch(config.ramping_version_percentage_changed_time),
            max(earlier)[1] if earlier else None,
        )  # fmt: skip

    async def set_ramping(self, build_id: str, percentage: float) -> None:
        """``build_id`` "" removes the ramp."""
        request = SetWorkerDeploymentRampingVersionRequest(
            namespace=self.client.namespace, deployment_name=self.name, build_id=build_id,
            percentage=percentage, identity=self.client.identity,
        )  # fmt: skip
        service = self.client.workflow_service
        await self._when_ready(
            build_id, lambda: service.set_worker_deployment_ramping_version(request)
        )

    async def set_current(self, build_id: str) -> None:
        request = SetWorkerDeploymentCurrentVersionRequest(
            namespace=self.client.namespace, deployment_name=self.name, build_id=build_id,
            identity=self.client.identity,
        )  # fmt: skip
        service = self.client.workflow_service
        await self._when_ready(
            build_id, lambda: service.set_worker_deployment_current_version(request)
        )

    async def _when_ready(self, build_id: str, change: Callable[[], Awaitable[object]]) -> None:
        """Make the change once the build polls every task queue the current one serves.

        A build whose workers have just started is refused ("missing active task queues")
        until they have polled each queue; that settles in seconds, so it is waited for,
        up to ``READY_WAIT_S``, then reported naming the build.
        """
        deadline = time.monotonic() + READY_WAIT_S
        while True:
            try:
                await change()
                return
            except RPCError as exc:
                waiting = exc.status == RPCStatusCode.FAILED_PRECONDITION and "missing" in str(exc)
                if not waiting or time.monotonic() > deadline:
                    raise ConfigError(
                        f"deployment {self.name!r}, build {build_id!r}: {exc} "
                        "(are its workers running on every task queue?)"
                    ) from exc
                await asyncio.sleep(0.5)

    async def runs(
        self, build_id: str, *, since: float | None = None, latest: int | None = None
    ) -> RunStats:
        """Closed workflows that ran on ``build_id``: since a time, or the latest ones."""
        query = f"TemporalWorkerDeploymentVersion = '{self.name}:{build_id}' " \
                "AND ExecutionStatus != 'Running'"  # fmt: skip
        if since is not None:
            stamp = datetime.fromtimestamp(since, UTC).isoformat().replace("+00:00", "Z")
            query += f" AND CloseTime > '{stamp}'"
        jobs = failed = 0
        durations: list[float] = []
        async for execution in self.client.list_workflows(query, limit=latest):
            if execution.status not in _FINISHED or execution.close_time is None:
                continue
            jobs += 1
            failed += execution.status in _ERRORS
            durations.append((execution.close_time - execution.start_time).total_seconds() * 1000)
        return RunStats(jobs, failed, tuple(durations))


async def task_queue_builds(client: Client, task_queue: str) -> dict[str, object] | None:
    """The current and ramping builds serving ``task_queue`` and their shares (None:
    unversioned)."""
    request = DescribeTaskQueueRequest(
        namespace=client.namespace,
        task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    )
    info = (await client.workflow_service.describe_task_queue(request)).versioning_info
    current, ramping = info.current_deployment_version, info.ramping_deployment_version
    if not current.build_id and not ramping.build_id:
        return None
    share = info.ramping_version_percentage if ramping.build_id else 0.0
    return {
        "deployment": current.deployment_name or ramping.deployment_name,
        "current": current.build_id or None, "current_percentage": 100.0 - share,
        "ramping": ramping.build_id or None, "ramping_percentage": share,
    }  # fmt: skip


@dataclass
class BuildRamp:
    """Ramp ``build_id`` in ``deployment`` up to current, judged against the current build."""

    deployment: Deployment
    build_id: str
    control: RuntimeControl
    """For the audit trail."""
    kind: str = "worker-ramp"

    def __post_init__(self) -> None:
        self.subject = f"{self.deployment.name}:{self.build_id}"
        self.baseline: str | None = None

    async def position(self) -> tuple[float, float | None]:
        routing = await self.deployment.routing()
        self.baseline = routing.previous if routing.current == self.build_id else routing.current
        if routing.current == self.build_id:
            return 100.0, routing.current_since
        if routing.ramping == self.build_id:
            return routing.ramping_percentage, routing.ramping_since
        return 0.0, None

    async def apply(self, share: float, reason: str, by: str) -> None:
        before = await self.deployment.routing()
        if share >= 100:
            await self.deployment.set_current(self.build_id)
            WORKER_RAMP.labels(self.deployment.name, "promoted").inc()
        else:
            await self.deployment.set_ramping(self.build_id, share)
            WORKER_RAMP.labels(self.deployment.name, "step").inc()
        await self._audit(before, reason, by)

    async def undo(self, reason: str, by: str) -> None:
        before = await self.deployment.routing()
        if before.current == self.build_id and self.baseline:
            await self.deployment.set_current(self.baseline)
        else:
            await self.deployment.set_ramping("", 0.0)
        WORKER_RAMP.labels(self.deployment.name, "rolled_back").inc()
        await self._audit(before, reason, by)

    async def judge(self, since: float, window_s: float, limits: Thresholds) -> Assessment:
        need = limits.min_samples
        new = await self.deployment.runs(self.build_id, since=time.time() - window_s)
        if new.jobs < need:
            new = await self.deployment.runs(self.build_id, since=since)
        if self.baseline is None:
            return Assessment("trip", [f"no current build to compare {self.build_id} with"])
        old = await self.deployment.runs(self.baseline, since=time.time() - window_s)
        if old.jobs < need:
            old = await self.deployment.runs(self.baseline, latest=need)
        return assess(new, old, ShadowCounts(), guard_open=False, limits=limits,
                      names=(self.build_id, self.baseline))  # fmt: skip

    async def _audit(self, before: Routing, reason: str, by: str) -> None:
        after = await self.deployment.routing()
        await self.control.record(f"deployment:{self.deployment.name}", _shown(before),
                                  _shown(after), reason, by)  # fmt: skip


def _shown(routing: Routing) -> dict[str, object]:
    return {"current": routing.current, "ramping": routing.ramping,
            "ramping_percentage": routing.ramping_percentage}  # fmt: skip
