"""The reference processors against real servers: SMTP on loopback, HTTP on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from activities.email import EMAIL_QUEUES, send_email
from activities.webhook import deliver_webhook
from queue_router import Backoff, JobOptions
from queue_router.processors import Registry
from tests.sinks import HttpSink, SmtpSink
from workflows import JobEnvelope, JobResult, workflow_id

pytestmark = pytest.mark.integration

SECRET = "s3cret-for-tests"


def reference_registry() -> Registry:
    registry = Registry()
    for queue in EMAIL_QUEUES:
        registry.add(queue, send_email)
    registry.add("webhook-deliver", deliver_webhook)
    return registry


@pytest.fixture
async def sinks_worker(start_worker: Callable[..., Any], smtp: SmtpSink) -> Any:
    return await start_worker(
        reference_registry(), smtp_host="127.0.0.1", smtp_port=smtp.port,
        webhook_signing_secret=SECRET,
    )  # fmt: skip


async def result_when_started(client: Client, wf_id: str, within_s: float = 10) -> JobResult:
    """The result of a workflow that a background task (the shadow runner) starts."""
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        try:
            result: JobResult = await client.get_workflow_handle(
                wf_id, result_type=JobResult
            ).result()
            return result
        except RPCError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


EMAIL = {"to": ["ana@example.com", "bo@example.com"], "subject": "Olá ✓", "text": "body ü"}


async def test_email_is_sent_over_smtp_with_a_job_derived_message_id(
    sinks_worker: Any, make_router: Callable[..., Any], temporal_client: Client, smtp: SmtpSink
) -> None:
    router = await make_router(use_temporal_workflows=True)
    job_id = f"mail-{uuid.uuid4().hex[:8]}"
    await router.enqueue("email-send-welcome", EMAIL, job_id=job_id)
    result = await result_when_started(temporal_client, workflow_id("email-send-welcome", job_id))
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == "ana@example.com, bo@example.com"
    assert message["Subject"] == "Olá ✓"
    assert message["Message-ID"] == f"<{job_id}.email-send-welcome@queue-router>"
    assert message.get_payload(decode=True).decode().strip() == "body ü"  # type: ignore[union-attr]
    assert result.result["sent"] is True
    assert [(e.name, e.outcome) for e in result.effects] == [("send", "performed")]


async def test_email_with_a_bad_address_fails_at_once_and_sends_nothing(
    sinks_worker: Any, temporal_client: Client, task_queue: str, smtp: SmtpSink
) -> None:
    envelope = JobEnvelope(
        "email-send", "bad-to", "mail", {**EMAIL, "to": "nobody"}, {"attempts": 5}
    )
    with pytest.raises(WorkflowFailureError) as failure:
        await temporal_client.execute_workflow(
            "emailSending", envelope, id=f"bad-{uuid.uuid4()}", task_queue=task_queue
        )
    assert "field 'to' must be an address" in str(failure.value.cause.__cause__)
    assert smtp.messages == []


async def test_unreachable_smtp_is_retried_then_fails_naming_the_server(
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str
) -> None:
    await start_worker(reference_registry(), smtp_host="127.0.0.1", smtp_port=1)
    envelope = JobEnvelope("email-send", "no-smtp", "mail", EMAIL,
                           {"attempts": 2, "backoff": {"type": "fixed", "delay": 10}})  # fmt: skip
    with pytest.raises(WorkflowFailureError) as failure:
        await temporal_client.execute_workflow(
            "emailSending", envelope, id=f"nosmtp-{uuid.uuid4()}", task_queue=task_queue
        )
    assert "cannot reach SMTP server 127.0.0.1:1" in str(failure.value.cause.__cause__)


async def deliver(client: Client, task_queue: str, url: str, attempts: int) -> Any:
    envelope = JobEnvelope("webhook-deliver", f"wh-{uuid.uuid4().hex[:8]}", "order.paid",
                           {"url": url + "/hook", "event": "order.paid", "payload": {"id": 9}},
                           JobOptions(attempts=attempts, backoff=Backoff("fixed", 10)).to_bull())  # fmt: skip
    return await client.execute_workflow(
        "webhookDelivery", envelope, id=f"wh-{uuid.uuid4()}", task_queue=task_queue,
        result_type=JobResult,
    )  # fmt: skip


async def test_webhook_is_signed_and_retried_on_5xx(
    sinks_worker: Any, temporal_client: Client, task_queue: str, http: HttpSink
) -> None:
    http.reset([500, 503])
    result = await deliver(temporal_client, task_queue, http.url, attempts=3)
    assert result.result == {"delivered": True, "url": http.url + "/hook", "status": 200}
    assert len(http.requests) == 3
    assert len({r.headers["X-Webhook-Id"] for r in http.requests}) == 1
    last = http.requests[-1]
    assert last.json() == {"event": "order.paid", "payload": {"id": 9}}
    signed = last.headers["X-Webhook-Timestamp"].encode() + b"." + last.body
    expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
    assert last.headers["X-Webhook-Signature"] == f"sha256={expected}"


@pytest.mark.parametrize(("status", "posts"), [(400, 1), (404, 1), (429, 3)])
async def test_webhook_4xx_is_final_except_throttling(
    status: int, posts: int, sinks_worker: Any, temporal_client: Client, task_queue: str,
    http: HttpSink,
) -> None:  # fmt: skip
    http.reset([status] * 5)
    with pytest.raises(WorkflowFailureError) as failure:
        await deliver(temporal_client, task_queue, http.url, attempts=3)
    assert f"answered {status}" in str(failure.value.cause.__cause__)
    assert len(http.requests) == posts


@pytest.mark.parametrize("queue", ["email-send", "webhook-deliver"])
async def test_shadow_run_performs_nothing_and_records_the_would_be_effect(
    queue: str, sinks_worker: Any, make_router: Callable[..., Any], temporal_client: Client,
    smtp: SmtpSink, http: HttpSink,
) -> None:  # fmt: skip
    # no comparison wait (no legacy worker runs here): the shadow run ends when it is done
    router = await make_router(temporal_shadow_mode=True, queues={queue: {"compare_within_s": 0}})
    data = EMAIL if queue == "email-send" else {"url": http.url + "/x", "event": "e", "payload": 1}
    job_id = f"shadow-{uuid.uuid4().hex[:8]}"
    receipt = await router.enqueue(queue, data, job_id=job_id)
    assert receipt.placement("bull").shadow is False  # the real job stays on the legacy path
    result = await result_when_started(temporal_client, workflow_id(queue, job_id, shadow=True))
    assert result.shadow is True
    [effect] = result.effects
    assert effect.outcome == "suppressed"
    expected = "would send email 'Olá ✓' to ana@example.com, bo@example.com" if queue == "email-send" \
        else f"would POST 'e' to {http.url}/x"  # fmt: skip
    assert effect.description == expected
    assert smtp.messages == [] and http.requests == []
