"""The default queue catalogue: which Temporal workflow type replaces each Bull queue.

Queue names are those of the Bull queues teams already run; workflow types are the
Temporal names the stock worker serves. The domain groups queues under one
``<DOMAIN>_QUEUE_BACKEND`` switch; the switches are read for exactly the domains named here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_CATALOGUE", "QueueSpec"]


@dataclass(frozen=True, slots=True)
class QueueSpec:
    name: str
    workflow_type: str
    domain: str


def _spec(name: str, workflow_type: str, domain: str) -> tuple[str, QueueSpec]:
    return name, QueueSpec(name, workflow_type, domain)


DEFAULT_CATALOGUE: dict[str, QueueSpec] = dict(
    [
        _spec("document-generation", "documentGeneration", "document"),
        _spec("document-export-pdf", "documentPdfExport", "document"),
        _spec("email-send", "emailSending", "email"),
        _spec("email-send-welcome", "emailSending", "email"),
        _spec("email-send-notification", "emailSending", "email"),
        _spec("notification-push", "notificationDelivery", "notification"),
        _spec("ai-process-query", "aiQueryProcessing", "ai"),
        _spec("ai-generate-document", "aiDocumentGeneration", "ai"),
        _spec("ruling-index", "rulingIndexing", "ruling"),
        _spec("webhook-deliver", "webhookDelivery", "webhook"),
    ]
)
