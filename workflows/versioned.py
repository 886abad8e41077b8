"""The workflows as a versioned worker (Worker Deployments) registers them.

A workflow that declares a versioning behaviour cannot run on an unversioned worker (the
server refuses the declaration), so each behaviour lives on a subclass registered only
by versioned workers; the unversioned worker registers the plain classes. Same workflow
type names, same code:

- job workflows run for minutes: ``AUTO_UPGRADE``, unless the queue asked for ``pinned``
  (the router writes ``"versioning"`` in the memo);
- approvals and alert loops wait for days: ``PINNED`` to the build they started on;
- the trace pipeline runs for minutes: ``AUTO_UPGRADE``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, VersioningBehavior

from workflows.alerts import AlertInput, AlertStatus, AlertWorkflow
from workflows.approval import (
    ApprovalRequest,
    ApprovalStatus,
    ApprovalWorkflow,
    SimpleApprovalWorkflow,
)
from workflows.envelope import JobResult
from workflows.jobs import JobWorkflow
from workflows.traces import TraceInput, TraceResult, TraceWorkflow

__all__ = ["VERSIONED_WORKFLOWS"]

_PINNED = VersioningBehavior.PINNED
_AUTO = VersioningBehavior.AUTO_UPGRADE


@workflow.defn(dynamic=True)
class VersionedJobWorkflow(JobWorkflow):
    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> JobResult:
        return await super().run(args)

    @workflow.dynamic_config
    def versioning(self) -> workflow.DynamicWorkflowConfig:
        pinned = workflow.memo_value("versioning", "auto_upgrade", type_hint=str) == "pinned"
        return workflow.DynamicWorkflowConfig(versioning_behavior=_PINNED if pinned else _AUTO)


@workflow.defn(name="approvalWithEscalation", versioning_behavior=_PINNED)
class PinnedApprovalWorkflow(ApprovalWorkflow):
    @workflow.run
    async def run(self, request: ApprovalRequest) -> ApprovalStatus:
        return await super().run(request)


@workflow.defn(name="approval", versioning_behavior=_PINNED)
class PinnedSimpleApprovalWorkflow(SimpleApprovalWorkflow):
    @workflow.run
    async def run(self, request: ApprovalRequest) -> ApprovalStatus:
        return await super().run(request)


@workflow.defn(name="alertEvaluation", versioning_behavior=_PINNED)
class PinnedAlertWorkflow(AlertWorkflow):
    @workflow.run
    async def run(self, alert: AlertInput) -> AlertStatus:
        return await super().run(alert)


@workflow.defn(name="tracePipeline", versioning_behavior=_AUTO)
class AutoUpgradeTraceWorkflow(TraceWorkflow):
    @workflow.run
    async def run(self, trace: TraceInput) -> TraceResult:
        return await super().run(trace)


VERSIONED_WORKFLOWS: list[type[Any]] = [
    VersionedJobWorkflow,
    PinnedApprovalWorkflow,
    PinnedSimpleApprovalWorkflow,
    PinnedAlertWorkflow,
    AutoUpgradeTraceWorkflow,
]
