"""``BullBackend``: jobs that unmodified Node.js Bull (v3/v4) workers process.

We run our own Lua script rather than Bull's ``addJob``: since bull 4.12.6 that script
expects msgpack-wrapped options and silently stores garbage when given JSON. Ours writes
the same stored layout in one atomic step, so a crash or client retry never leaves half
a job, and an id that already exists is left alone (Bull's custom ``jobId`` rule).

Writes go over one shared connection (``queue_router.connections.one_connection``: concurrent adds
share round trips, as ioredis does for Node's producer); a batch of ``enqueue_many``
writes up to ``SCRIPT_JOBS`` jobs per script call. On a Redis Cluster, redis-py's
cluster client writes one job per call instead.
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Sequence
from importlib import resources
from json.encoder import encode_basestring_ascii
from typing import Any

from redis.exceptions import NoScriptError, RedisError

from backends._redis import (
    after_failure,
    async_client,
    check_credentials,
    eviction_preflight,
    refused,
    write_or_classify,
)
from queue_router.connections.one_connection import OneConnection, pack, run_script
from queue_router.connections.redis_client import AsyncRedis, RedisTLS
from queue_router.contract import Backend, EnqueueRequest
from queue_router.errors import EnqueueOutcomeUnknown, QueueRouterError
from queue_router.receipts import JobOptions, Placement, placed

__all__ = ["BullBackend", "bull_script"]


def bull_script(name: str, package: str = "backends") -> str:
    """A Lua script of ours for Bull queues, with the shared ``insertWaiting`` prepended."""
    insert = resources.files("backends").joinpath("bull_insert.lua").read_text()
    return insert + resources.files(package).joinpath(name).read_text()


_ADD_SCRIPT = bull_script("bull_add.lua")
_STRUCTURAL_KEYS = ("wait", "paused", "meta-paused", "id", "delayed", "priority")
BATCH = 500
"""Jobs per pipelined round trip in ``enqueue_many``."""
_ADDED = ord("1")
_JOB_ARGS = 8
"""The add script's arguments per job (``_job_args``)."""
_JOB_ARGS_COUNT = len(f"*{_JOB_ARGS}\r\n")
"""The leading argument count of one job's arguments packed alone, cut off to append them
to a ``_packed_head``."""
SCRIPT_JOBS = 100
"""Jobs per call of the add script: Redis's per-call cost is shared, while one call still
blocks Redis for well under a millisecond."""


_BY_IDENTITY: dict[int, tuple[JobOptions, str]] = {}
"""Option JSON by the ``JobOptions`` object it was made of (kept, so its id is not reused
while it is here). Most jobs of a queue carry one object, the queue's defaults: an identity
check costs 0.07 µs where hashing the frozen dataclass for ``lru_cache`` costs 0.3 µs, and
its ``__eq__`` another 0.5 µs when an earlier queue's defaults are equal to it."""


def _options_json(options: JobOptions) -> str:
    seen = _BY_IDENTITY.get(id(options))
    if seen is not None and seen[0] is options:
        return seen[1]
    if len(_BY_IDENTITY) >= 256:  # options made per call: start again, the defaults come back
        _BY_IDENTITY.clear()
    text = _options_json_of_equal(options)
    _BY_IDENTITY[id(options)] = (options, text)
    return text


@functools.lru_cache(maxsize=256)
def _options_json_of_equal(options: JobOptions) -> str:
    """By value: options made per call are often equal to earlier ones."""
    return json.dumps(options.to_bull(), separators=(",", ":"))


class BullBackend(Backend):
    """Writes Bull jobs under ``<prefix>:<queue>:`` (the prefix may be a ``{hash-tag}``).

    Args:
        redis_url: where the Bull queues live.
        prefix: Bull's key prefix, ``bull`` unless the Node side set another.
        timeout_s: socket timeout; past it the same idempotent write is run again.
        require_noeviction: refuse to start when Redis may evict keys.
        tls: CA, certificate and key files for a ``rediss://`` URL.
        cluster_nodes: Redis Cluster seeds (then ``prefix`` needs a ``{hash tag}``).
        client: an existing ``redis.asyncio.Redis`` (not closed by us), for reuse.
    """

    name = "bull"

    def __init__(
        self,
        redis_url: str = "redis://localhost:6379/0",
        *,
        prefix: str = "bull",
        timeout_s: float = 5.0,
        require_noeviction: bool = False,
        tls: RedisTLS | None = None,
        cluster_nodes: Sequence[tuple[str, int]] = (),
        client: AsyncRedis | None = None,
    ) -> None:
        self.prefix = prefix
        self._url = redis_url
        self._owns_client = client is None
        self._redis: AsyncRedis = client or async_client(
            redis_url, timeout_s, tls=tls, cluster_nodes=cluster_nodes
        )
        self._require_noeviction = require_noeviction
        self._script = self._redis.register_script(_ADD_SCRIPT)
        self._token = str(uuid.uuid4())
        self._heads: dict[str, tuple[str | int, ...]] = {}
        self._packed: dict[str, bytes] = {}
        self._one = OneConnection.beside(self._redis, timeout_s)

    def key(self, queue: str, suffix: str) -> str:
        """The Redis key ``<prefix>:<queue>:<suffix>``, as Bull's ``toKey`` builds it."""
        return f"{self.prefix}:{queue}:{suffix}"

    async def startup(self) -> None:
        await check_credentials(self.name, self._url, self._redis.ping)
        await eviction_preflight(
            lambda: self._redis.config_get("maxmemory-policy"), require=self._require_noeviction
        )

    async def aclose(self) -> None:
        if self._one is not None:
            self._one.close()
        if self._owns_client:
            await self._redis.aclose()

    async def enqueue(self, request: EnqueueRequest) -> Placement:
        """One job: concurrent calls share one connection, their writes one round trip.

        The hot path of a sequential producer, kept short (Python runs cold after every
        wait on Redis, so each call on it costs about three times its hot cost): not a
        batch of one (8-11 µs of CPU per job), the script's fixed arguments packed once
        per queue, and the first attempt made here rather than through
        ``write_or_classify`` (a failure, or a Redis that lost the script, takes the
        general path).
        """
        one = self._one
        if one is None:
            return await self._cluster_one(request)
        args = self._job_args(request)
        command = self._packed_head(request.queue) + pack(*args)[_JOB_ARGS_COUNT:]
        try:
            reply = await one.run_one(command)
        except (RedisError, OSError) as exc:
            reply = await self._general_path(request, args, failed=exc)
        if isinstance(reply, NoScriptError):
            reply = await self._general_path(request, args, failed=None)
        if isinstance(reply, Exception):
            raise refused(self.name, self._url, request.job_id, reply)
        return self._placement(request, reply[0])

    async def _general_path(
        self, request: EnqueueRequest, args: tuple[str | int, ...], failed: BaseException | None
    ) -> Any:
        """The single job's reply the way a batch gets it (``_run``: the script reloaded
        into a flushed Redis; ambiguous failures re-run), after a first attempt that
        ``failed`` or found the script missing."""
        run = functools.partial(self._run, [[*self._head(request.queue), *args]])
        if failed is None:
            [reply] = await write_or_classify(self.name, request.job_id, self._url, run)
        else:
            [reply] = await after_failure(self.name, request.job_id, self._url, run, failed)
        return reply

    async def enqueue_many(
        self, requests: Sequence[EnqueueRequest]
    ) -> list[Placement | QueueRouterError]:
        """Up to ``BATCH`` jobs per pipelined round trip, ``SCRIPT_JOBS`` per script call.

        A batch whose reply is lost is run again as a whole (the script is idempotent by
        job id); if no re-run gets an answer, each of its jobs is reported unknown. On a
        cluster, jobs are written one by one (a pipeline there is per node anyway).
        """
        if self._one is None:
            return await super().enqueue_many(requests)
        out: list[Placement | QueueRouterError] = []
        for start in range(0, len(requests), BATCH):
            batch = requests[start : start + BATCH]
            label = f"{batch[0].job_id} and {len(batch) - 1} more in one batch"
            out.extend(await self._write(self._script_calls(batch), label))
        return out

    async def _write(
        self,
        calls: Sequence[tuple[list[str | int], Sequence[EnqueueRequest]]],
        label: str,
    ) -> list[Placement | QueueRouterError]:
        """Run the add script ``calls`` (arguments, and the jobs they add) on the shared
        connection: each job's outcome, in order."""
        run = functools.partial(self._run, [args for args, _ in calls])
        try:
            replies = await write_or_classify(self.name, label, self._url, run)
        except EnqueueOutcomeUnknown as exc:
            return [EnqueueOutcomeUnknown(self.name, r.job_id, exc.reason, cause=exc.cause)
                    for _, jobs in calls for r in jobs]  # fmt: skip
        except QueueRouterError as exc:  # definitely not written, none of them
            return [exc for _, jobs in calls for _ in jobs]
        out: list[Placement | QueueRouterError] = []
        for (_, jobs), reply in zip(calls, replies, strict=True):
            if isinstance(reply, Exception):  # the whole script call: its jobs share the error
                out.extend(refused(self.name, self._url, r.job_id, reply) for r in jobs)
            else:
                out.extend(map(self._placement, jobs, reply))  # b"1101...": one per job
        return out

    async def _run(self, calls: Sequence[list[str | int]]) -> list[Any]:
        """One reply per call of the add script (its arguments), in order; error replies as
        redis-py's exceptions."""
        assert self._one is not None
        return await run_script(self._one, self._script, calls)

    def _script_calls(
        self, batch: Sequence[EnqueueRequest]
    ) -> list[tuple[list[str | int], Sequence[EnqueueRequest]]]:
        """The script's arguments for each run of up to ``SCRIPT_JOBS`` jobs of one queue
        (key count, keys, key prefix, token, then each job's eight), and those jobs."""
        calls: list[tuple[list[str | int], Sequence[EnqueueRequest]]] = []
        start = 0
        while start < len(batch):
            queue = batch[start].queue
            end = start + 1
            while end < len(batch) and end - start < SCRIPT_JOBS and batch[end].queue == queue:
                end += 1
            jobs = batch[start:end]
            args = list(self._head(queue))
            for request in jobs:
                args.extend(self._job_args(request))
            calls.append((args, jobs))
            start = end
        return calls

    async def _cluster_one(self, request: EnqueueRequest) -> Placement:
        head = self._head(request.queue)
        keys = [str(key) for key in head[1:-2]]
        args = [*head[-2:], *self._job_args(request)]

        async def write() -> bytes:
            added: bytes = await self._script(keys=keys, args=args)
            return added

        added = await write_or_classify(self.name, request.job_id, self._url, write)
        return self._placement(request, added[0])

    def _packed_head(self, queue: str) -> bytes:
        """``EVALSHA`` with the script's fixed arguments (``_head``), in the wire format of
        a command with one job's eight arguments still to follow."""
        packed = self._packed.get(queue)
        if packed is None:
            head = self._head(queue)
            command = pack("EVALSHA", self._script.sha, *head)
            count = 2 + len(head) + _JOB_ARGS
            packed = f"*{count}\r\n".encode() + command[command.index(b"\r\n") + 2 :]
            self._packed[queue] = packed
        return packed

    def _head(self, queue: str) -> tuple[str | int, ...]:
        """The script's arguments before the jobs' own: key count, keys, prefix, token.

        The same for every job of a queue: built once.
        """
        head = self._heads.get(queue)
        if head is None:
            keys = [self.key(queue, suffix) for suffix in _STRUCTURAL_KEYS]
            head = self._heads[queue] = (len(keys), *keys, self.key(queue, ""), self._token)
        return head

    @staticmethod
    def _job_args(request: EnqueueRequest) -> tuple[str | int, ...]:
        """The add script's eight arguments for one job."""
        options, job_id = request.options, request.job_id
        # Bull's stored opts: the job's options, then its id and timestamp. The options part
        # is the same for most jobs of a queue: encoded once. The id is quoted as json.dumps
        # quotes a string, minus its two Python calls.
        stamp = f'"jobId":{encode_basestring_ascii(job_id)},"timestamp":{request.timestamp_ms}}}'
        return (
            job_id,
            request.job_name,
            request.data_json,
            f"{_options_json(options)[:-1]},{stamp}",
            request.timestamp_ms,
            options.delay_ms,
            options.priority or 0,
            "1" if options.lifo else "0",
        )

    def _placement(self, request: EnqueueRequest, added: int) -> Placement:
        """``added``: the job's byte of the script's reply, ``ord("1")`` when it was added."""
        return placed(
            self.name,
            request.job_id,
            existing=added != _ADDED,
            detail={"queue": request.queue, "prefix": self.prefix},
        )
