"""Temporal workflows: the one job workflow every queue uses, and the migration guides' patterns.

Workflows run no application code themselves: each step is the one activity
``queue_router.run_processor`` (see ``activities``), so the sandbox imports only this
package and a processor can change without a workflow version.
"""

from typing import Any

from workflows.alerts import AlertInput, AlertStatus, AlertWorkflow
from workflows.approval import (
    ApprovalRequest,
    ApprovalStatus,
    ApprovalWorkflow,
    AuditEntry,
    Decision,
    SimpleApprovalWorkflow,
)
from workflows.envelope import RUN_PROCESSOR, EffectRecord, JobEnvelope, JobResult, workflow_id
from workflows.jobs import JobWorkflow
from workflows.traces import TraceInput, TraceResult, TraceWorkflow

ALL_WORKFLOWS: list[type[Any]] = [
    JobWorkflow,
    ApprovalWorkflow,
    SimpleApprovalWorkflow,
    AlertWorkflow,
    TraceWorkflow,
]

__all__ = [
    "ALL_WORKFLOWS",
    "RUN_PROCESSOR",
    "AlertInput",
    "AlertStatus",
    "AlertWorkflow",
    "ApprovalRequest",
    "ApprovalStatus",
    "ApprovalWorkflow",
    "AuditEntry",
    "Decision",
    "EffectRecord",
    "JobEnvelope",
    "JobResult",
    "JobWorkflow",
    "SimpleApprovalWorkflow",
    "TraceInput",
    "TraceResult",
    "TraceWorkflow",
    "workflow_id",
]
