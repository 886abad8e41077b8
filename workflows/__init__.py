"""Temporal workflows that replace the Bull/RQ processors, and the envelope they take."""

from workflows.envelope import JobEnvelope, workflow_id

__all__ = ["JobEnvelope", "workflow_id"]
