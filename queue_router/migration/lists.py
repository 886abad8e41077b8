"""Draining a plain Redis list (``legacy: list``) into Temporal workflows, crash-safely.

An element is never in two places: one Lua step pops it from the consumer end of the
list into the migration's pending hash (``{<list>}:queue-router:migrating``, job id ->
element); its workflow is started; a second step moves it from pending into the ledger
(``{<list>}:queue-router:ledger``, job id -> ``{workflow_id, run_id, element}``). A
definite start failure puts it back on the consumer end of the list. A run killed
between the steps leaves the element pending, and the next run starts (or finds) its
workflow first: each element becomes exactly one workflow. ``rollback`` stops the
workflows that have not completed and pushes their elements back onto the list.

The job id of an element is its envelope's ``job_id``, or the first 16 hex digits of the
element's SHA-1 (the same rule as ``list-worker``), so the workflow id is stable.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from temporalio.client import Client, WorkflowExecutionStatus

from backends.redis_list import slot_tag
from backends.temporal import TemporalBackend
from queue_router.config import QueueConfig, Settings
from queue_router.connections.redis_client import AsyncRedis
from queue_router.contract import EnqueueRequest
from queue_router.errors import EnqueueOutcomeUnknown, NotEnqueuedError
from queue_router.migration.migrate import JobOutcome
from queue_router.payload import encode_payload
from queue_router.receipts import JobOptions
from queue_router.workers.lists import envelope_of_element

__all__ = ["ListMigration"]


# Pop one element into pending under its job id. KEYS: list, pending. Returns {id, element}.
_TAKE = """
local element = redis.call('RPOP', KEYS[1])
if not element then return false end
local ok, value = pcall(cjson.decode, element)
local id
if ok and type(value) == 'table' and value['job_id'] ~= nil and value['data'] ~= nil then
  id = tostring(value['job_id'])
else
  id = string.sub(redis.sha1hex(element), 1, 16)
end
redis.call('HSET', KEYS[2], id, element)
return {id, element}
"""
# Settle a pending element. KEYS: list, pending, ledger. ARGV: op (done | back), id, record.
_SETTLE = """
local element = redis.call('HGET', KEYS[2], ARGV[2])
if not element then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
if ARGV[1] == 'done' then redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
else redis.call('RPUSH', KEYS[1], element) end
return 1
"""
# Rollback of one ledger entry. KEYS: list, ledger. ARGV: id.
_RESTORE = """
local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record then return 0 end
redis.call('RPUSH', KEYS[1], cjson.decode(record)['element'])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
"""


class ListMigration:
    """One list queue's migration: ``run`` drains it, ``rollback`` undoes what did not run."""

    def __init__(
        self, settings: Settings, config: QueueConfig, client: AsyncRedis, temporal: TemporalBackend
    ) -> None:
        self.settings, self.config, self.redis, self.temporal = settings, config, client, temporal
        slot = slot_tag(config.list_key)
        self.list_key = config.list_key
        self.pending = f"{slot}:queue-router:migrating"
        self.ledger = f"{slot}:queue-router:ledger"
        self._take = client.register_script(_TAKE)
        self._settle = client.register_script(_SETTLE)
        self._restore = client.register_script(_RESTORE)

    async def counts(self) -> dict[str, int]:
        return {"waiting": int(await self.redis.llen(self.list_key)),
                "pending": int(await self.redis.hlen(self.pending)),
                "migrated": int(await self.redis.hlen(self.ledger))}  # fmt: skip

    async def run(
        self, *, dry_run: bool, concurrency: int, max_jobs: int = 0,
        on_outcome: Callable[[JobOutcome], None] = lambda _: None,
    ) -> list[JobOutcome]:  # fmt: skip
        outcomes: list[JobOutcome] = []
        if dry_run:
            for element in await self.redis.lrange(self.list_key, 0, -1):
                outcome = self._check(str(element))
                outcomes.append(outcome)
                on_outcome(outcome)
            return outcomes
        for job_id, element in (await self.redis.hgetall(self.pending)).items():
            outcome = await self._start(str(job_id), str(element))  # a killed run's leftovers
            outcomes.append(outcome)
            on_outcome(outcome)
        room = asyncio.Semaphore(concurrency)
        budget = max_jobs or None

        async def lane() -> None:
            nonlocal budget
            while budget is None or budget > 0:
                if budget is not None:
                    budget -= 1
                async with room:
                    taken = await self._take(keys=[self.list_key, self.pending])
                    if not taken:
                        return
                    outcome = await self._start(str(taken[0]), str(taken[1]))
                outcomes.append(outcome)
                on_outcome(outcome)

        await asyncio.gather(*(lane() for _ in range(concurrency)))
        return outcomes

    def _check(self, element: str) -> JobOutcome:
        envelope = envelope_of_element(self.config.name, element)
        wf_id = self.config.workflow_id(envelope.job_id)
        try:
            encode_payload(self.config.name, envelope.data,
                           limit=self.settings.routing.max_payload_bytes)  # fmt: skip
        except Exception as exc:
            return JobOutcome(self.config.name, envelope.job_id, "waiting", "invalid", str(exc))
        return JobOutcome(self.config.name, envelope.job_id, "waiting", "valid", workflow_id=wf_id)

    async def _start(self, job_id: str, element: str) -> JobOutcome:
        envelope = envelope_of_element(self.config.name, element)
        wf_id = self.config.workflow_id(job_id)
        outcome = JobOutcome(self.config.name, job_id, "waiting", "failed", workflow_id=wf_id)
        request = EnqueueRequest(
            queue=self.config.name, job_id=job_id, job_name=self.config.job_name,
            data=envelope.data, data_json=json.dumps(envelope.data, separators=(",", ":")),
            options=JobOptions(attempts=int(envelope.options.get("attempts") or 1)),
            timestamp_ms=int(time.time() * 1000), workflow_type=self.config.workflow_type,
            task_queue=self.config.task_queue, rq_function="", workflow_id=wf_id,
        )  # fmt: skip
        keys = [self.list_key, self.pending, self.ledger]
        try:
            placement = await self.temporal.enqueue(request)
        except NotEnqueuedError as exc:
            await self._settle(keys=keys, args=["back", job_id, ""])
            outcome.reason = f"workflow start failed, element put back: {exc}"
            return outcome
        except EnqueueOutcomeUnknown as exc:
            outcome.reason = f"workflow start outcome unknown, element kept pending: {exc}"
            return outcome
        record = json.dumps({"workflow_id": wf_id, "run_id": placement.run_id, "element": element})
        await self._settle(keys=keys, args=["done", job_id, record])
        outcome.outcome, outcome.run_id = "moved", placement.run_id
        return outcome

    async def rollback(
        self, client: Client, *, terminate: bool, dry_run: bool, wait_s: float
    ) -> list[JobOutcome]:
        outcomes = []
        for job_id, text in (await self.redis.hgetall(self.ledger)).items():
            record: dict[str, Any] = json.loads(text)
            outcome = JobOutcome(self.config.name, str(job_id), "migrated", "skipped",
                                 workflow_id=record["workflow_id"])  # fmt: skip
            handle = client.get_workflow_handle(record["workflow_id"])
            status = (await handle.describe()).status
            if status == WorkflowExecutionStatus.COMPLETED:
                outcome.reason = "workflow completed: the job ran in Temporal, not restored"
            elif dry_run:
                outcome.outcome, outcome.reason = "valid", "would stop the workflow and restore"
            else:
                if status == WorkflowExecutionStatus.RUNNING:
                    await (handle.terminate("queue-router rollback") if terminate
                           else handle.cancel())  # fmt: skip
                    deadline = time.monotonic() + wait_s
                    while (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                        if time.monotonic() > deadline:
                            break
                        await asyncio.sleep(0.2)
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    outcome.outcome = "failed"
                    outcome.reason = "still running after the cancel; rerun, or --terminate"
                elif await self._restore(keys=[self.list_key, self.ledger], args=[str(job_id)]):
                    outcome.outcome, outcome.reason = "restored", "back on the list"
            outcomes.append(outcome)
        return outcomes
