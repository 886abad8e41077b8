"""Legacy queues as the migration tool sees them: list, read, hold, confirm, put back.

``BullQueue`` and ``RQQueue`` read their own Redis layouts (see redis-queue-formats) and
share one atomic Lua script (``move.lua``) for every write, so a job is always either
runnable in Redis, held by the migration (invisible to workers), or in the ledger, and
never two of these at once.

The per-job commands (the read of a job hash, each move) go over one shared connection
(``OneConnection``, as the Bull backend's adds do): a pooled call costs several times the
CPU, and a migration makes three per job. On a Redis Cluster they go through the cluster
client, which sends each to the node of its key.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import RedisCluster

from backends.bull import bull_script
from queue_router.connections.one_connection import OneConnection, pack, run_script
from queue_router.connections.redis_client import AsyncRedis
from queue_router.contract import AsyncLifecycle

__all__ = ["MIGRATABLE_STATES", "LegacyJob", "LegacyQueue", "MoveResult", "now_ms"]

MIGRATABLE_STATES = ("waiting", "paused", "delayed", "failed")
"""States a job can be migrated from; ``prioritized`` is a subset of waiting/paused."""

_MOVE = bull_script("move.lua", "queue_router.migration")


async def _no_cleanup(error: Exception) -> None:
    """Nothing to reset between tries: the shared connection reconnects by itself."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class LegacyJob:
    """One job read from a legacy queue; ``problem`` says why it cannot be migrated."""

    source: str
    queue: str
    job_id: str
    state: str
    name: str = ""
    data: Any = None
    opts: dict[str, Any] = field(default_factory=dict)
    timestamp_ms: int = 0
    due_ms: int | None = None
    """When a delayed job becomes runnable."""
    attempts_made: int = 0
    failed_reason: str | None = None
    problem: str | None = None


@dataclass
class MoveResult:
    status: str
    record: dict[str, Any]


class LegacyQueue(AsyncLifecycle, ABC):
    """One queue of a legacy backend: reads are plain commands, writes go through ``move.lua``."""

    source = "legacy"

    def __init__(self, client: AsyncRedis, queue: str) -> None:
        self.client = client
        self.queue = queue
        self._script = client.register_script(_MOVE)
        self._one = OneConnection.beside(client, encoding="utf-8")  # text, as the JSON it holds
        self._retry = None if isinstance(client, RedisCluster) else client.get_retry()

    async def aclose(self) -> None:
        if self._one is not None:
            self._one.close()

    # --- what each layout provides -------------------------------------------------
    @abstractmethod
    def key(self, suffix: str) -> str:
        """A structural key of the queue (wait, delayed, failed ...)."""

    @abstractmethod
    def job_key(self, job_id: str) -> str: ...

    @abstractmethod
    async def ids(self, state: str) -> list[str]:
        """Job ids in ``state``, in the order the legacy workers would take them."""

    @abstractmethod
    async def read(self, job_id: str, state: str) -> LegacyJob | None:
        """The job, or None when its hash is gone."""

    @abstractmethod
    async def counts(self) -> dict[str, int]: ...

    @abstractmethod
    async def finished_since(self, since_ms: int) -> tuple[int, int]:
        """(completed, failed) jobs that finished since ``since_ms``, as far as Redis keeps them."""

    @property
    def hold_key(self) -> str:
        """Hash of the jobs a migration holds: id -> where they came from."""
        return self.key("qr-migrating")

    @property
    def ledger_key(self) -> str:
        """Hash of the jobs migrated: id -> workflow, run and original state."""
        return f"queue-router:ledger:{self.source}:{self.key('')}"

    def _keys(self, job_id: str) -> list[str]:
        """The KEYS of ``move.lua``, in its order."""
        job = self.job_key(job_id)
        return [
            job, f"{job}:lock", f"{job}:logs", self.key("wait"), self.key("paused"),
            self.key("meta-paused"), self.key("delayed"), self.key("priority"),
            self.key("failed"), self.hold_key, f"{self.ledger_key}job:{job_id}",
            self.ledger_key, f"{self.ledger_key}seq",
        ]  # fmt: skip

    async def _move(self, op: str, job_id: str, *args: str | int) -> MoveResult:
        keys, argv = self._keys(job_id), [op, job_id, self.source, *args]
        if self._one is None:
            reply = await self._script(keys=keys, args=argv)
        else:
            one = self._one
            reply = await self._shared(
                lambda: run_script(one, self._script, [[len(keys), *keys, *argv]])
            )
        status, record = (str(part) for part in reply)
        return MoveResult(status, json.loads(record) if record else {})

    async def _hash(self, key: str) -> dict[str, str]:
        """A whole hash (``HGETALL``), its fields and values as text."""
        if self._one is None:
            raw = await self.client.hgetall(key)
        else:
            one = self._one
            raw = await self._shared(lambda: one.run([pack("HGETALL", key)]))
            if isinstance(raw, list):  # RESP2 sends a map as a flat list
                raw = dict(zip(raw[::2], raw[1::2], strict=True))
        return {str(k): str(v) for k, v in raw.items()}

    async def _shared(self, run: Callable[[], Awaitable[list[Any]]]) -> Any:
        """The one reply of ``run`` on the shared connection; an error reply raised.

        A lost connection or a timeout re-runs it as the client's own retry policy would
        (what goes this way is safe to repeat: a read, or a move, which finds a repeated
        hold still held and a repeated confirm moved already).
        """
        retry = self._retry
        [reply] = await (run() if retry is None else retry.call_with_retry(run, _no_cleanup))
        if isinstance(reply, Exception):
            raise reply
        return reply

    # --- the moves ---------------------------------------------------------------------
    async def hold(self, job: LegacyJob, workflow_id: str) -> MoveResult:
        """Take the job out of reach of legacy workers: held, locked, gone or moved."""
        record = json.dumps({"workflow_id": workflow_id, "held_at": now_ms()})
        return await self._move("hold", job.job_id, job.state, record)

    async def confirm(self, job_id: str, record: dict[str, Any]) -> MoveResult:
        """The workflow exists: move the job hash into the ledger."""
        return await self._move("confirm", job_id, json.dumps(record))

    async def unhold(self, job_id: str) -> MoveResult:
        """The start definitely failed: put the job back where it was."""
        return await self._move("unhold", job_id)

    async def restore(self, job_id: str) -> MoveResult:
        """Rollback: the job hash back from the ledger, into its original state."""
        return await self._move("restore", job_id, now_ms())

    async def held(self) -> dict[str, dict[str, Any]]:
        raw = await self.client.hgetall(self.hold_key)
        return {str(k): json.loads(v) for k, v in raw.items()}

    async def ledger(self) -> dict[str, dict[str, Any]]:
        raw = await self.client.hgetall(self.ledger_key)
        return {str(k): json.loads(v) for k, v in raw.items()}
