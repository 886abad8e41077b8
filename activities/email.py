"""Reference processor: email over SMTP, for the catalogue's email queues.

Job data: ``{"to": str | [str], "subject": str, "text": str, "html"?: str, "from"?: str,
"reply_to"?: str}``. The Message-ID derives from the job (``<job_id.queue@queue-router>``)
so even a receiving system can tell a duplicate. The send is a claimed side effect: under
dual-write the email goes out once. A 5xx reply (bad address, rejected content) is
permanent; a 4xx reply or a dropped connection is retried.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from typing import Any

from queue_router.config import SmtpSettings
from queue_router.errors import JobError, PermanentJobError
from queue_router.processors.context import JobContext
from queue_router.processors.registry import processor

__all__ = ["EMAIL_QUEUES", "build_message", "send_email"]

EMAIL_QUEUES = ("email-send", "email-send-welcome", "email-send-notification")


@processor(*EMAIL_QUEUES)
async def send_email(job: JobContext) -> dict[str, Any]:
    message = build_message(job)
    recipients = [addr.strip() for addr in str(message["To"]).split(",")]

    async def send() -> dict[str, Any]:
        await asyncio.to_thread(_deliver, job.settings.smtp, message, job.queue, job.job_id)
        return {"message_id": message["Message-ID"], "to": recipients}

    sent = await job.effect(
        "send", f"send email {message['Subject']!r} to {', '.join(recipients)}", send
    )
    return {"sent": sent is not None, **(sent or {"to": recipients})}


def build_message(job: JobContext) -> EmailMessage:
    """The message, or ``PermanentJobError`` naming the missing or bad field."""
    data = job.data if isinstance(job.data, dict) else {}
    to = data.get("to")
    if isinstance(to, str):
        to = [to]
    if not to or not all(isinstance(addr, str) and "@" in addr for addr in to):
        raise PermanentJobError(
            f"queue {job.queue!r} job {job.job_id!r}: field 'to' must be an address or a "
            f"list of addresses, got {data.get('to')!r}"
        )
    for field in ("subject", "text"):
        if not isinstance(data.get(field), str):
            raise PermanentJobError(
                f"queue {job.queue!r} job {job.job_id!r}: field {field!r} must be a string"
            )
    message = EmailMessage()
    message["From"] = data.get("from") or job.settings.smtp.smtp_from
    message["To"] = ", ".join(to)
    message["Subject"] = data["subject"]
    message["Message-ID"] = f"<{job.job_id}.{job.queue}@queue-router>"
    if data.get("reply_to"):
        message["Reply-To"] = data["reply_to"]
    message.set_content(data["text"])
    if isinstance(data.get("html"), str):
        message.add_alternative(data["html"], subtype="html")
    return message


def _deliver(settings: SmtpSettings, message: EmailMessage, queue: str, job_id: str) -> None:
    timeout = settings.smtp_timeout_ms / 1000
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=timeout) as smtp:
            if settings.smtp_starttls:
                smtp.starttls()
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentJobError(
            f"queue {queue!r} job {job_id!r}: recipients refused: {exc.recipients}"
        ) from exc
    except smtplib.SMTPResponseException as exc:
        text = f"queue {queue!r} job {job_id!r}: SMTP {exc.smtp_code} {exc.smtp_error!r}"
        if 500 <= exc.smtp_code < 600:
            raise PermanentJobError(text) from exc
        raise JobError(text) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise JobError(
            f"queue {queue!r} job {job_id!r}: cannot reach SMTP server "
            f"{settings.smtp_host}:{settings.smtp_port}: {exc}"
        ) from exc
