"""The shadow comparison activity: how a shadow run compares with its legacy job.

The shadow workflow asks it repeatedly (its own durable timer between asks) until the
legacy job has finished, then once more with ``final`` when its wait is over. The
activity reads the legacy outcome where Bull or RQ keeps it, compares, counts the verdict
(``queue_router_shadow_comparison_total``) and records it in Redis for
``queue-router shadow-report`` and the rollout controller.
"""

from __future__ import annotations

import logging
from functools import cached_property

import redis
from temporalio import activity

from queue_router.config import Settings
from queue_router.connections.redis_client import AsyncRedis, tls_kwargs
from queue_router.evidence.compare import (
    LegacyOutcome,
    bull_outcome,
    compare,
    load_compare,
    rq_outcome,
    shown,
)
from queue_router.evidence.ledger import Evidence
from queue_router.telemetry.metrics import SHADOW_COMPARISONS
from workflows.envelope import COMPARE_SHADOW, ShadowCheck

__all__ = ["ShadowActivities"]

log = logging.getLogger(__name__)


class ShadowActivities:
    """Shares one Redis client (strings) for legacy lookups and the evidence streams."""

    def __init__(self, settings: Settings, client: AsyncRedis) -> None:
        self.settings = settings
        self._redis = client
        self._evidence = Evidence(client)

    @cached_property
    def _rq_connection(self) -> redis.Redis:
        return redis.Redis.from_url(
            self.settings.redis.redis_url, **tls_kwargs(self.settings.redis.tls())
        )

    async def legacy_outcome(self, queue: str, job_id: str) -> LegacyOutcome:
        legacy = self.settings.queue(queue).legacy
        if legacy == "list":
            return LegacyOutcome("gone", error="a Redis list keeps no results to compare with")
        if legacy == "bull":
            return await bull_outcome(self._redis, self.settings.redis.bull_prefix, queue, job_id)
        serializer = self.settings.redis.rq_serializer
        return await rq_outcome(self._rq_connection, self._redis, serializer, queue, job_id)

    @activity.defn(name=COMPARE_SHADOW)
    async def compare(self, check: ShadowCheck) -> str:
        """``pending`` (ask again later), or the verdict recorded: match, mismatch, ignored."""
        config = self.settings.queue(check.queue)
        legacy = await self.legacy_outcome(check.queue, check.job_id)
        if legacy.state == "pending" and not check.final:
            return "pending"
        try:
            policy = config.shadow
            compare_fn = load_compare(policy.compare) if policy.compare else None
            verdict, reason = compare(legacy, check, compare_fn=compare_fn, ignore=policy.ignore,
                                      effects=policy.effects)  # fmt: skip
        except Exception as exc:  # a broken compare function is reported, never a match
            log.error("shadow comparison of job %s on %s: %s", check.job_id, check.queue, exc)
            verdict, reason = "ignored", f"compare function {config.shadow.compare} failed: {exc}"
        SHADOW_COMPARISONS.labels(check.queue, verdict).inc()
        await self._evidence.record_comparison(
            check.queue, check.job_id, verdict, reason, legacy=shown(legacy),
            temporal=shown(check),
        )  # fmt: skip
        return verdict
