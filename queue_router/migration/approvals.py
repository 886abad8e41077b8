"""Carry in-flight approvals of another engine into Temporal, resumed where they stood.

Input: JSON lines exported from the old engine, one approval each (see the README,
"Approvals in flight"). Each becomes an ``approvalWithEscalation`` workflow (``approval``
without ``escalate_to``) with id ``approval/<request_id>``, whose clocks run from the old
engine's times. Idempotent by request id: a workflow with that id, running or closed,
means "already imported", never a second start.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from workflows.approval import ApprovalRequest, AuditEntry, ImportedApproval

__all__ = ["ApprovalLine", "ImportResult", "import_approvals", "parse_lines"]


class _OldAudit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: AwareDatetime
    state: str
    actor: str
    note: str = ""


class ApprovalLine(BaseModel):
    """One line of the export; every timestamp carries its timezone."""

    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=200)
    subject: str
    approver: str = Field(min_length=1)
    escalate_to: str | None = None
    escalate_after_s: float = Field(24 * 3600, gt=0)
    expire_after_s: float | None = Field(None, gt=0)
    requested_at: AwareDatetime
    state: Literal["pending", "escalated"]
    escalated_at: AwareDatetime | None = None
    audit: list[_OldAudit] = Field(default_factory=list)

    @property
    def workflow_id(self) -> str:
        return f"approval/{self.request_id}"

    @property
    def workflow_type(self) -> str:
        return "approvalWithEscalation" if self.escalate_to else "approval"

    def next_action(self) -> tuple[str, datetime | None]:
        """What the workflow does next without a decision, and when (None: never)."""
        if self.state == "escalated" or not self.escalate_to:
            since = self.escalated_at or self.requested_at
            if self.expire_after_s is None:
                return "waits for a decision", None
            return "expires", since + timedelta(seconds=self.expire_after_s)
        return "escalates", self.requested_at + timedelta(seconds=self.escalate_after_s)

    def request(self) -> ApprovalRequest:
        imported = ImportedApproval(
            requested_at=self.requested_at.isoformat(), state=self.state,
            escalated_at=self.escalated_at.isoformat() if self.escalated_at else None,
            audit=[AuditEntry(e.at.isoformat(), e.state, e.actor, e.note) for e in self.audit],
        )  # fmt: skip
        return ApprovalRequest(
            self.request_id, self.subject, self.approver, escalate_to=self.escalate_to,
            escalate_after_s=self.escalate_after_s, expire_after_s=self.expire_after_s,
            imported=imported,
        )  # fmt: skip


@dataclass
class ImportResult:
    line: int
    request_id: str | None
    outcome: Literal["imported", "existing", "invalid", "would import"]
    detail: str = ""


def parse_lines(lines: Iterable[str]) -> list[tuple[int, ApprovalLine | str]]:
    """Each non-blank line, numbered from 1: the approval, or why it is invalid."""
    parsed: list[tuple[int, ApprovalLine | str]] = []
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            parsed.append((number, ApprovalLine.model_validate(json.loads(text))))
        except json.JSONDecodeError as exc:
            parsed.append((number, f"not JSON: {exc.msg} at column {exc.colno}"))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'line'}: {e['msg']}" for e in exc.errors()
            )
            parsed.append((number, problems))
    return parsed


async def import_approvals(
    client: Client,
    task_queue: str,
    lines: Iterable[str],
    *,
    dry_run: bool = False,
    on_result: Callable[[ImportResult], None] = lambda _: None,
) -> list[ImportResult]:
    results = []
    for number, item in parse_lines(lines):
        if isinstance(item, str):
            result = ImportResult(number, None, "invalid", item)
        elif dry_run:
            action, when = item.next_action()
            at = f" at {when.isoformat(timespec='seconds')}" if when else ""
            result = ImportResult(number, item.request_id, "would import",
                                  f"{item.workflow_type}: {action}{at}")  # fmt: skip
        else:
            result = await _start(client, task_queue, number, item)
        on_result(result)
        results.append(result)
    return results


async def _start(client: Client, task_queue: str, number: int, item: ApprovalLine) -> ImportResult:
    try:
        await client.start_workflow(
            item.workflow_type, item.request(), id=item.workflow_id, task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,  # closed ones count too
        )  # fmt: skip
    except WorkflowAlreadyStartedError:
        return ImportResult(number, item.request_id, "existing", item.workflow_id)
    return ImportResult(number, item.request_id, "imported", item.workflow_id)
