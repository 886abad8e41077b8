"""Approval patterns: a request waits for a human decision sent as a signal.

``ApprovalWorkflow`` escalates to a second approver when the first has not decided
within ``escalate_after_s``; ``SimpleApprovalWorkflow`` waits for one approver only.
Both answer the ``status`` query and keep an audit entry per transition, so "who decided
what, when" is in the workflow's own state (and its history), not in a side table.
Notifications to approvers run as processor jobs on ``notify_queue`` when it is set.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from temporalio import workflow

from workflows.jobs import run_step

__all__ = [
    "ApprovalRequest",
    "ApprovalStatus",
    "ApprovalWorkflow",
    "AuditEntry",
    "Decision",
    "ImportedApproval",
    "SimpleApprovalWorkflow",
]


@dataclass
class ApprovalRequest:
    request_id: str
    subject: str
    approver: str
    escalate_to: str | None = None
    """Second approver (escalating workflow only)."""
    escalate_after_s: float = 24 * 3600
    expire_after_s: float | None = None
    """After the last approver was asked, how long until the request expires (None: never)."""
    notify_queue: str | None = None
    """Processor queue that tells an approver a request waits for them."""
    imported: ImportedApproval | None = None
    """Set when the approval was carried in from another engine: resume, don't restart."""


@dataclass
class ImportedApproval:
    """Where an approval of another engine stood when it was carried into Temporal.

    The clocks keep running from the old engine's times: a request made 20 hours ago
    with a 24-hour escalation escalates 4 hours after the import, not 24.
    """

    requested_at: str
    """ISO-8601, with a timezone."""
    state: str
    """``pending`` or ``escalated``."""
    escalated_at: str | None = None
    audit: list[AuditEntry] = field(default_factory=list)
    """The old engine's history; it comes first in the workflow's audit, marked imported."""


@dataclass
class Decision:
    approver: str
    comment: str = ""


@dataclass
class AuditEntry:
    at: str
    """ISO-8601 workflow time of the transition."""
    state: str
    actor: str
    note: str = ""


@dataclass
class ApprovalStatus:
    request_id: str
    state: str
    """pending, escalated, approved, rejected or expired."""
    approver: str
    audit: list[AuditEntry] = field(default_factory=list)


class _Approval:
    """State, signals and query shared by both approval workflows."""

    @workflow.init
    def __init__(self, request: ApprovalRequest) -> None:
        # Set up before any signal is handled, so an early decision is judged correctly.
        self._request = request
        self._status = ApprovalStatus(request.request_id, "pending", request.approver)
        self._decision: tuple[str, Decision] | None = None

    @workflow.signal
    def approve(self, decision: Decision) -> None:
        self._decide("approved", decision)

    @workflow.signal
    def reject(self, decision: Decision) -> None:
        self._decide("rejected", decision)

    @workflow.query
    def status(self) -> ApprovalStatus:
        return self._status

    def _decide(self, verdict: str, decision: Decision) -> None:
        if self._decision is not None or self._status.state not in ("pending", "escalated"):
            self._audit(self._status.state, decision.approver, f"ignored late {verdict}")
        elif decision.approver not in self._allowed():
            self._audit(
                self._status.state, decision.approver, f"ignored {verdict}: not an approver"
            )
        else:
            self._decision = (verdict, decision)

    def _allowed(self) -> set[str]:
        return {self._status.approver}

    def _audit(self, state: str, actor: str, note: str = "") -> None:
        self._status.state = state
        when = workflow.now().isoformat()
        self._status.audit.append(AuditEntry(at=when, state=state, actor=actor, note=note))

    async def _ask(self, request: ApprovalRequest, approver: str, state: str) -> None:
        self._status.approver = approver
        self._audit(state, "system", f"waiting for {approver}")
        if request.notify_queue:
            await run_step(
                request.notify_queue,
                f"{request.request_id}-{state}",
                "approval-requested",
                {"request_id": request.request_id, "subject": request.subject,
                 "approver": approver, "state": state},
                {"attempts": 5, "backoff": {"type": "exponential", "delay": 1000}},
            )  # fmt: skip

    def _resume(self, imported: ImportedApproval, approver: str) -> None:
        """Take over an imported approval: its history first, then where it stood."""
        self._status.audit = [
            AuditEntry(e.at, e.state, e.actor, f"imported: {e.note}" if e.note else "imported")
            for e in imported.audit
        ]
        self._status.approver = approver
        self._audit(imported.state, "system", f"imported; waiting for {approver}")

    @staticmethod
    def _left(since: str, seconds: float | None) -> float | None:
        """Of ``seconds`` counted from ``since`` (ISO-8601), how many are left now (>= 0)."""
        if seconds is None:
            return None
        elapsed = (workflow.now() - datetime.fromisoformat(since)).total_seconds()
        return max(0.0, seconds - elapsed)

    async def _wait(self, seconds: float | None) -> bool:
        """True once a decision arrived; False when ``seconds`` passed without one."""
        if seconds is not None and seconds <= 0:  # a deadline already passed: act at once
            return self._decision is not None
        timeout = timedelta(seconds=seconds) if seconds is not None else None
        try:
            await workflow.wait_condition(lambda: self._decision is not None, timeout=timeout)
        except TimeoutError:
            return False
        return True

    def _finish(self) -> ApprovalStatus:
        if self._decision is None:
            self._audit("expired", "system", "no decision in time")
        else:
            verdict, decision = self._decision
            self._audit(verdict, decision.approver, decision.comment)
        return self._status


@workflow.defn(name="approvalWithEscalation")
class ApprovalWorkflow(_Approval):
    """Asks ``approver``; after ``escalate_after_s`` without a decision asks ``escalate_to``."""

    def _allowed(self) -> set[str]:
        # After escalation the first approver may still decide.
        return {self._status.approver, self._request.approver}

    @workflow.run
    async def run(self, request: ApprovalRequest) -> ApprovalStatus:
        imported = request.imported
        if imported is not None and imported.state == "escalated" and request.escalate_to:
            self._resume(imported, request.escalate_to)
            await self._wait(self._left(imported.escalated_at or imported.requested_at,
                                        request.expire_after_s))  # fmt: skip
            return self._finish()
        if imported is not None:
            self._resume(imported, request.approver)
            first_wait = self._left(imported.requested_at, request.escalate_after_s)
        else:
            await self._ask(request, request.approver, "pending")
            first_wait = request.escalate_after_s
        if not await self._wait(first_wait) and request.escalate_to:
            await self._ask(request, request.escalate_to, "escalated")
            await self._wait(request.expire_after_s)
        return self._finish()


@workflow.defn(name="approval")
class SimpleApprovalWorkflow(_Approval):
    """One approver; expires after ``expire_after_s`` if set."""

    @workflow.run
    async def run(self, request: ApprovalRequest) -> ApprovalStatus:
        if request.imported is not None:
            self._resume(request.imported, request.approver)
            await self._wait(self._left(request.imported.requested_at, request.expire_after_s))
        else:
            await self._ask(request, request.approver, "pending")
            await self._wait(request.expire_after_s)
        return self._finish()
