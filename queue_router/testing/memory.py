"""``MemoryBackend``: an in-process backend for users' own unit tests.

It keeps jobs in a dict, idempotently by (queue, job id), exactly like the real
backends, and can be told to fail or to be slow so callers can test their fallback
and error handling without servers.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from queue_router.contract import Backend, EnqueueRequest
from queue_router.errors import BackendUnavailable, CredentialsRejected, EnqueueOutcomeUnknown
from queue_router.receipts import Placement

__all__ = ["MemoryBackend", "StoredJob"]


@dataclass(frozen=True, slots=True)
class StoredJob:
    request: EnqueueRequest
    placement: Placement


class MemoryBackend(Backend):
    """Stores jobs in ``self.jobs``, keyed by ``(queue, job_id)``.

    Args:
        name: the backend name it answers as (``bull``, ``rq``, ``temporal``...), so it
            can stand in for any real one.
        latency_s: sleep this long in every enqueue (to test concurrency and shadows).

    Set ``fail_with`` to ``"unavailable"``, ``"credentials"`` or ``"unknown"`` to make every
    enqueue raise the matching contract error (nothing is stored in any case).
    """

    def __init__(self, name: str = "memory", *, latency_s: float = 0.0) -> None:
        self.name = name
        self.latency_s = latency_s
        self.fail_with: str | None = None
        self.jobs: dict[tuple[str, str], StoredJob] = {}
        self.calls = 0

    async def enqueue(self, request: EnqueueRequest) -> Placement:
        self.calls += 1
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if self.fail_with == "unavailable":
            raise BackendUnavailable(self.name, "configured to fail (fail_with='unavailable')")
        if self.fail_with == "credentials":
            raise CredentialsRejected(self.name, "configured to fail (fail_with='credentials')")
        if self.fail_with == "unknown":
            raise EnqueueOutcomeUnknown(self.name, request.job_id, "configured to fail")
        key = (request.queue, request.job_id)
        if key in self.jobs:
            first = self.jobs[key].placement
            return Placement(
                backend=self.name, job_id=first.job_id, existing=True, shadow=request.shadow
            )
        placement = Placement(backend=self.name, job_id=request.job_id, shadow=request.shadow)
        self.jobs[key] = StoredJob(request, placement)
        return placement
