"""Temporal workflows: the catalogue's job workflows and the migration guides' patterns.

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
from workflows.jobs import CATALOGUE_WORKFLOWS
from workflows.traces import TraceInput, TraceResult, TraceWorkflow

ALL_WORKFLOWS: list[type[Any]] = [
    *CATALOGUE_WORKFLOWS,
    ApprovalWorkflow,
    SimpleApprovalWorkflow,
    AlertWorkflow,
    TraceWorkflow,
]

__all__ = [
    "ALL_WORKFLOWS",
    "CATALOGUE_WORKFLOWS",
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
    "SimpleApprovalWorkflow",
    "TraceInput",
    "TraceResult",
    "TraceWorkflow",
    "workflow_id",
]
