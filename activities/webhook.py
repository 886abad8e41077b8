"""Reference processor: webhook delivery over HTTP with an HMAC-SHA256 signature.

Job data: ``{"url": str, "event"?: str, "payload": any, "headers"?: {str: str}}``. The
body is the JSON ``{"event", "payload"}``; the request carries

* ``X-Webhook-Id``: ``<queue>/<job_id>``, the same on every retry, for receivers to dedupe;
* ``X-Webhook-Timestamp``: unix seconds of this attempt;
* ``X-Webhook-Signature``: ``sha256=`` + hex HMAC-SHA256 over ``"<timestamp>.<body>"``
  keyed with ``WEBHOOK_SIGNING_SECRET`` (signing the timestamp stops replays).

2xx succeeds. 5xx, 408, 429, timeouts and connection errors are retried under the job's
attempts/backoff; any other 4xx fails the job at once (the receiver will not change its
mind). The POST is a claimed side effect: under dual-write it is delivered once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx

from queue_router.errors import JobError, PermanentJobError
from queue_router.processors.context import JobContext
from queue_router.processors.registry import processor

__all__ = ["deliver_webhook", "sign"]

_RETRYABLE_4XX = {408, 425, 429}


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Webhook-Signature`` value; receivers recompute it to verify a delivery."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


@processor("webhook-deliver")
async def deliver_webhook(job: JobContext) -> dict[str, Any]:
    data = job.data if isinstance(job.data, dict) else {}
    url = data.get("url")
    where = f"queue {job.queue!r} job {job.job_id!r}"
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise PermanentJobError(f"{where}: field 'url' must be an http(s) URL, got {url!r}")
    secret = job.settings.webhook.webhook_signing_secret
    if secret is None:
        raise PermanentJobError(
            f"{where}: WEBHOOK_SIGNING_SECRET is not set; refusing to send unsigned"
        )
    body = json.dumps(
        {"event": data.get("event", job.name), "payload": data.get("payload")},
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()

    async def post() -> dict[str, Any]:
        timestamp = str(int(time.time()))
        headers = {
            **{str(k): str(v) for k, v in (data.get("headers") or {}).items()},
            "Content-Type": "application/json",
            "X-Webhook-Id": f"{job.queue}/{job.job_id}",
            "X-Webhook-Timestamp": timestamp,
            "X-Webhook-Signature": sign(secret.get_secret_value(), timestamp, body),
        }
        timeout = job.settings.webhook.webhook_timeout_ms / 1000
        try:
            async with httpx.AsyncClient(timeout=timeout) as client:
                response = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise JobError(f"{where}: POST {url} failed: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if 200 <= status < 300:
            return {"status": status}
        text = f"{where}: POST {url} answered {status}: {response.text[:200]!r}"
        if 400 <= status < 500 and status not in _RETRYABLE_4XX:
            raise PermanentJobError(text)
        raise JobError(text)

    delivered = await job.effect("post", f"POST {data.get('event', job.name)!r} to {url}", post)
    return {"delivered": delivered is not None, "url": url, **(delivered or {})}
