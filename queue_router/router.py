"""``QueueRouter``: one ``enqueue()`` that decides, per call, where a job goes.

The router resolves a queue's settings (following the live state every instance shares,
``control``), computes the route (a pure function, see ``routing``) and checks the job;
``dispatch``, its base, calls one or two backends through the one backend contract and
says where the job is (``many`` places many jobs at once). It never looks inside a
backend, and builds none itself (``wiring`` does, from the settings).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from mmh3 import hash as mmh3_hash  # a global name: no module attribute lookup per route

from queue_router.config import QueueConfig, Settings
from queue_router.connections.redis_client import AsyncRedis
from queue_router.contract import AsyncLifecycle, Backend, EnqueueRequest, resolved_request
from queue_router.control import LiveState, RuntimeControl
from queue_router.errors import ConfigError, InvalidJobError
from queue_router.evidence.ledger import Evidence
from queue_router.guard import RollbackGuard
from queue_router.many import ManyJobs
from queue_router.payload import (
    encode_payload,
    new_job_id,
    validate_job_id,
    validate_job_name,
)
from queue_router.placements import PlacementMemory
from queue_router.receipts import Job, JobOptions, Receipt
from queue_router.routing import BUCKETS, Route, RouteTable
from queue_router.shadow.handoff import ShadowHandoff
from queue_router.shadow.starts import ShadowRunner, ShadowStarts
from queue_router.telemetry.logsummary import LogSummary
from queue_router.telemetry.metrics import GUARD_OPEN, ROUTE_PERCENTAGE

log = logging.getLogger("queue_router")

__all__ = ["QueueRouter"]


class QueueRouter(ManyJobs, AsyncLifecycle):
    """Routes jobs between the legacy queues (Bull, RQ) and Temporal.

    Use it as an async context manager so connections and shadow work are cleaned up::

        async with QueueRouter.from_env() as router:
            receipt = await router.enqueue("email-send", {"to": "a@b.c"}, key="user-42")

    Args:
        settings: validated settings (see ``Settings.from_env``).
        backends: backends by name (``bull``, ``rq``, ``temporal``); the real ones are
            built from the settings when omitted. Pass ``MemoryBackend``s in unit tests.
        memory: what Temporal holds or may hold, consulted before any fallback; shared
            through Redis when the backends are built from the settings, in-process
            otherwise (see ``placements``).
        control: the runtime control shared by every instance (``queue-router set``,
            the shared rollback guard); through Redis when the backends are built from
            the settings, none otherwise (see ``control``).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        backends: Mapping[str, Backend] | None = None,
        memory: PlacementMemory | None = None,
        control: RuntimeControl | None = None,
        evidence: Evidence | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        handoff_to: AsyncRedis | None = None
        if backends is None:
            from queue_router.wiring import (
                backends_from_settings,
                control_client,
                memory_from_settings,
            )

            backends = backends_from_settings(self.settings)
            if self.settings.routing.shadow_starts == "worker":
                handoff_to = control_client(self.settings)
            memory = memory or memory_from_settings(self.settings)
            control = control or RuntimeControl(control_client(self.settings))
            evidence = evidence or Evidence(control_client(self.settings))
        self._evidence = evidence
        self._backends = dict(backends)
        self._memory = memory or PlacementMemory()
        self._control = control
        if control is not None:
            control.on_change = self._apply_live
        self._base: dict[str, QueueConfig] = {}
        self._queues: dict[str, QueueConfig] = {}
        self._tables: dict[str, tuple[str | None, list[Route | None], RouteTable]] = {}
        """Each queue's route table, unpacked for ``route()`` (it runs on every enqueue)."""
        self._guard_shared = False
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None
        """The event loop the router first ran on: its connections and tasks live there."""
        self._chores: set[asyncio.Task[None]] = set()
        routing = self.settings.routing
        self._shadow = self._shadow_starts(handoff_to)
        self._log = LogSummary(log)
        self._guard = RollbackGuard(
            failures=routing.guard_failures, cooldown_s=routing.guard_cooldown_ms / 1000
        )
        for name in self.settings.queue_names():  # fail now, not on the first job
            self._queue(name)

    def _shadow_starts(self, handoff_to: AsyncRedis | None) -> ShadowStarts:
        """Shadow copies handed to the workers through Redis, or started here."""
        routing = self.settings.routing
        if handoff_to is not None:
            return ShadowHandoff(
                handoff_to, max_waiting=routing.shadow_max_waiting,
                max_waiting_bytes=routing.shadow_max_waiting_bytes,
                backlog_max=routing.shadow_backlog_max,
                backlog_max_bytes=routing.shadow_backlog_max_bytes, evidence=self._evidence,
            )  # fmt: skip
        return ShadowRunner(
            max_in_flight=routing.shadow_max_in_flight,
            timeout_s=self.settings.temporal.temporal_rpc_timeout_ms / 1000 * 2,
            evidence=self._evidence,
        )

    @classmethod
    def from_env(cls, **overrides: Any) -> QueueRouter:
        """A router configured from env vars; bad settings raise ``ConfigError`` now."""
        return cls(Settings.from_env(**overrides))

    async def startup(self) -> None:
        """Run each backend's preflight (e.g. Redis eviction policy); never needs Temporal up.

        If a preflight refuses, every backend is closed again before the error propagates.
        """
        self._bind_loop()
        try:
            await self._memory.startup()
            for backend in self._backends.values():
                await backend.startup()
            if self._control is not None:
                await self._control.start()
        except BaseException:
            await self.aclose(shadow_grace_s=0)
            raise

    async def aclose(self, *, shadow_grace_s: float = 5.0) -> None:
        """Give in-flight shadow starts a moment, then close every backend.

        Closing twice is harmless; enqueueing after it raises ``RuntimeError``.
        """
        if self._closed:
            return
        self._closed = True
        if self._control is not None:
            await self._control.stop()
        await self._shadow.drain(shadow_grace_s)
        await self._shadow.aclose()
        await asyncio.gather(*self._chores, return_exceptions=True)
        for backend in self._backends.values():
            await backend.aclose()
        await self._memory.aclose()
        if self._control is not None:
            await self._control.aclose()
        if self._evidence is not None:
            await self._evidence.aclose()

    def _queue(self, name: str) -> QueueConfig:
        config = self._queues.get(name)
        if config is None:
            config = self._queues[name] = self._base[name] = self.settings.queue(name)
            self._set_table(name, config)
            ROUTE_PERCENTAGE.labels(name).set(config.route("").percentage)
            GUARD_OPEN.labels(name).set(1 if self._guard.is_open else 0)
            missing = self._missing_backend(config)
            if missing:
                raise ConfigError(
                    f"queue {name!r} needs a {missing!r} backend, but the router was given "
                    f"only {', '.join(sorted(self._backends)) or 'none'}"
                )
        return config

    def _missing_backend(self, config: QueueConfig) -> str | None:
        """A backend ``config`` routes to that this router was not given, if any."""
        return next((b for b in (config.legacy, "temporal") if b not in self._backends), None)

    def _apply_live(self, state: LiveState) -> None:
        """Swap in the live mode/percentage of every queue; no I/O, so ``route()`` stays pure."""
        for name, base in self._base.items():
            config = state.config_of(base)
            missing = self._missing_backend(config)
            if missing:
                self._log.warning(f"live:{name}", "live setting of %s ignored: no %r backend "
                                  "here", name, missing)  # fmt: skip
                config = base
            self._queues[name] = config
            if self._tables[name][2].state != config.state():  # its routes are out of date
                self._set_table(name, config)
            ROUTE_PERCENTAGE.labels(name).set(config.route("").percentage)
        remaining = (state.guard_open_until or 0) - time.time()
        if remaining > 0:
            self._guard_shared = True
            self._guard.hold_open_until(time.monotonic() + remaining)
        elif self._guard_shared:  # another instance's probe closed it, or it ran out
            self._guard_shared = False
            if state.guard_open_until is None:
                self._guard.release()
        self._publish_guard()

    def route(self, queue: str, key: str) -> Route:
        """The path ``key`` takes on ``queue`` now. Pure: no I/O, same answer everywhere.

        A route depends only on the key's bucket and the queue's state, so each queue keeps
        a table of routes by bucket for its current state: a key costs one hash.
        """
        try:
            prefix, routes, table = self._tables[queue]
        except KeyError:
            self._queue(queue)  # first use of the queue: checked, and its table made
            prefix, routes, table = self._tables[queue]
        if prefix is None:  # a flag service's bucketing
            return table.route(key)
        bucket = mmh3_hash(prefix + key, 0, False) % BUCKETS  # routing.bucket, inlined
        return routes[bucket] or table.fill(bucket)

    def _set_table(self, name: str, config: QueueConfig) -> None:
        table = RouteTable(config.state())
        self._tables[name] = (table.prefix, table.routes, table)

    async def enqueue(
        self,
        queue: str,
        data: Any,
        *,
        key: str | None = None,
        job_id: str | None = None,
        name: str | None = None,
        options: JobOptions | None = None,
    ) -> Receipt:
        """Place one job and say where it is.

        Args:
            queue: a catalogue queue (``email-send``, ...).
            data: JSON-serializable payload.
            key: routing key (e.g. a user id); defaults to ``job_id``.
            job_id: idempotency key; enqueueing it again never makes a second job.
            name: Bull job name; defaults to the queue's (``__default__``).
            options: attempts, delay, priority ...; unset ones take the queue defaults.

        Returns:
            A ``Receipt`` naming every backend that now holds the job.

        Raises:
            UnknownQueueError, InvalidJobError (PayloadError): bad input; nothing written.
            BackendUnavailable, CredentialsRejected: no backend took the job; nothing written.
            EnqueueOutcomeUnknown: it may have been written; retry with the same job_id.
        """
        self._check_usable()
        config, route, request = self._resolve(queue, data, key, job_id, name, options)
        return await self._place(config, route, request)

    def _check_usable(self) -> None:
        """Refuse jobs before anything is written once closed (live settings are no longer
        followed; nothing would close a connection opened again) or from another loop."""
        if self._closed:
            raise RuntimeError("QueueRouter is closed")
        self._bind_loop()

    def _bind_loop(self) -> None:
        """Remember the first loop; refuse any other (a write would go out on the old loop's
        socket and come back 'unknown' on every retry)."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
        elif self._loop is not loop:
            raise RuntimeError(
                "this QueueRouter runs on the event loop it was first used on; make one "
                "router per event loop (e.g. per asyncio.run), or use SyncQueueRouter from "
                "blocking code"
            )

    def _prepare(self, queue: str, job: Job) -> tuple[QueueConfig, Route, EnqueueRequest]:
        """``_resolve`` for an item of ``enqueue_many``, which may not be a ``Job`` at all."""
        if isinstance(job, Job):
            return self._resolve(queue, job.data, job.key, job.job_id, job.name, job.options)
        self._queue(queue)  # an unknown queue is named before the bad item
        raise InvalidJobError(queue, f"each job must be a Job(data, key=..., job_id=...), "
                                     f"not a {type(job).__name__}")  # fmt: skip

    def _resolve(
        self,
        queue: str,
        data: Any,
        key: str | None,
        job_id: str | None,
        name: str | None,
        options: JobOptions | None,
    ) -> tuple[QueueConfig, Route, EnqueueRequest]:
        """Check one job and resolve it: its queue's config, its route, its request.

        Takes the job's fields, not a ``Job``: ``enqueue`` builds none (its hot path).
        """
        config = self._queue(queue)
        if key is not None and not isinstance(key, str):
            raise InvalidJobError(queue, f"routing key {key!r} must be a string (e.g. str(...))")
        if options is not None and not isinstance(options, JobOptions):
            raise InvalidJobError(queue, f"options must be a JobOptions, not a "
                                         f"{type(options).__name__}")  # fmt: skip
        if job_id is None:
            job_id = new_job_id()  # valid by construction
        else:
            validate_job_id(queue, job_id)
        if name is None:
            name = config.job_name  # checked with the settings
        else:
            validate_job_name(queue, name)
        request = resolved_request(
            queue=queue,
            job_id=job_id,
            job_name=name,
            data=data,
            data_json=encode_payload(queue, data, limit=self.settings.routing.max_payload_bytes),
            options=config.defaults if options is None else options.with_defaults(config.defaults),
            timestamp_ms=int(time.time() * 1000),
            workflow_type=config.workflow_type,
            task_queue=config.task_queue,
            rq_function=config.rq_function,
            versioning=config.versioning,
            list_key=config.list_key,
            workflow_id=config.workflow_id(job_id),
            list_envelope=config.list_envelope,
        )
        return config, self.route(queue, key if key is not None else job_id), request
