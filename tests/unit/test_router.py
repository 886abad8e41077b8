"""The router's decisions on in-memory backends: modes, fallback, dual, shadow, payloads."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
import uuid
from typing import Any

import pytest
from prometheus_client import REGISTRY

import queue_router
from queue_router import (
    BackendUnavailable,
    ConfigError,
    EnqueueOutcomeUnknown,
    EnqueueRequest,
    InvalidJobError,
    Job,
    JobOptions,
    Mode,
    NotEnqueuedError,
    PayloadError,
    Placement,
    QueueRouter,
    Receipt,
    Settings,
    StartupError,
    UnknownQueueError,
)
from queue_router.contract import resolved_request
from queue_router.control import LiveSetting, LiveState
from queue_router.dispatch import receipt
from queue_router.frozen import slot_setters
from queue_router.receipts import placed
from queue_router.routing import Route
from queue_router.testing.memory import MemoryBackend
from tests.counts import Counts


def router_with(
    latency_s: float = 0.0, **fields: object
) -> tuple[QueueRouter, dict[str, MemoryBackend]]:
    backends = {n: MemoryBackend(n, latency_s=latency_s) for n in ("bull", "rq", "temporal")}
    return QueueRouter(Settings.from_env(**fields), backends=backends), backends


def guard_open(queue: str) -> float | None:
    return REGISTRY.get_sample_value("queue_router_guard_open", {"queue": queue})


def queues(**modes: object) -> dict[str, Any]:
    return {"queues": {q.replace("_", "-"): m for q, m in modes.items()}}


async def test_percentage_mode_places_each_key_on_its_route() -> None:
    router, b = router_with(temporal_traffic_percentage=50)
    for i in range(200):
        receipt = await router.enqueue("email-send", {"i": i}, key=f"user-{i}", job_id=f"j{i}")
        route = router.route("email-send", f"user-{i}")
        assert receipt.backends == (route.primary,)
        assert (receipt.bucket, receipt.percentage, receipt.mode) == (
            route.bucket,
            50,
            Mode.PERCENTAGE,
        )
    assert len(b["bull"].jobs) + len(b["temporal"].jobs) == 200
    assert 60 < len(b["temporal"].jobs) < 140


async def test_key_defaults_to_job_id() -> None:
    router, _ = router_with(temporal_traffic_percentage=50)
    receipt = await router.enqueue("email-send", {}, job_id="mail-1")
    assert receipt.bucket == queue_router.bucket("mail-1")


async def test_fallback_when_temporal_definitely_failed() -> None:
    counts = Counts()
    router, b = router_with(use_temporal_workflows=True)
    b["temporal"].fail_with = "unavailable"
    receipt = await router.enqueue("webhook-deliver", {"url": "x"}, job_id="w-1")
    assert receipt.fell_back and receipt.backends == ("bull",)
    assert "configured to fail" in (receipt.fallback_reason or "")
    assert receipt.failures[0].backend == "temporal"
    assert counts("queue_router_fallback_total", queue="webhook-deliver", reason="unavailable") == 1
    enqueued = {"queue": "webhook-deliver", "mode": "percentage"}
    assert (
        counts("queue_router_enqueue_total", backend="temporal", outcome="failed", **enqueued) == 1
    )
    assert (
        counts("queue_router_enqueue_total", backend="bull", outcome="fell_back", **enqueued) == 1
    )


async def test_no_fallback_when_disabled() -> None:
    router, b = router_with(use_temporal_workflows=True, bull_fallback=False)
    b["temporal"].fail_with = "unavailable"
    with pytest.raises(BackendUnavailable):
        await router.enqueue("webhook-deliver", {}, job_id="w-1")
    assert not b["bull"].jobs


async def test_never_fall_back_after_an_unknown_outcome() -> None:
    router, b = router_with(use_temporal_workflows=True)
    b["temporal"].fail_with = "unknown"
    with pytest.raises(EnqueueOutcomeUnknown):
        await router.enqueue("webhook-deliver", {}, job_id="w-1")
    assert not b["bull"].jobs


async def test_dual_writes_both_concurrently() -> None:
    router, b = router_with(latency_s=0.2, **queues(email_send={"mode": "dual"}))
    started = time.perf_counter()
    receipt = await router.enqueue("email-send", {"to": "a"}, job_id="m-1")
    elapsed = time.perf_counter() - started
    assert receipt.backends == ("bull", "temporal")
    assert elapsed < 0.35, f"dual-write took {elapsed:.2f}s: the writes ran one after the other"
    assert b["bull"].jobs[("email-send", "m-1")].request.job_id == "m-1"
    assert ("email-send", "m-1") in b["temporal"].jobs


class _Ordered(MemoryBackend):
    """Notes in a shared list when each of its writes goes out."""

    def __init__(self, name: str, sent: list[str]) -> None:
        super().__init__(name, latency_s=0.05)
        self.sent = sent

    async def enqueue(self, request: EnqueueRequest) -> Placement:
        self.sent.append(self.name)
        return await super().enqueue(request)


async def test_dual_sends_the_temporal_start_first() -> None:
    """The start is the slow side: the legacy write's Python must not hold it back (a
    dual call's p50 was 1.15x Temporal mode's with the legacy write sent first)."""
    sent: list[str] = []
    backends = {name: _Ordered(name, sent) for name in ("bull", "rq", "temporal")}
    settings = Settings.from_env(**queues(email_send={"mode": "dual"}))
    router = QueueRouter(settings, backends=backends)
    receipt = await router.enqueue("email-send", {}, job_id="m-1")
    assert sent == ["temporal", "bull"]
    assert receipt.backends == ("bull", "temporal")  # the receipt keeps the route's order


async def test_a_cancelled_dual_write_cancels_both_sides() -> None:
    router, b = router_with(latency_s=0.3, **queues(email_send={"mode": "dual"}))
    call = asyncio.ensure_future(router.enqueue("email-send", {}, job_id="m-1"))
    await asyncio.sleep(0.05)  # both writes under way
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    await asyncio.sleep(0.4)  # past their latency: a side left running would have written
    assert (b["bull"].calls, b["temporal"].calls) == (1, 1)
    assert not b["bull"].jobs and not b["temporal"].jobs


@pytest.mark.parametrize("failure", ["unavailable", "unknown"])
async def test_dual_with_one_side_down_reports_it(failure: str) -> None:
    router, b = router_with(**queues(email_send={"mode": "dual"}))
    b["temporal"].fail_with = failure
    receipt = await router.enqueue("email-send", {}, job_id="m-1")
    assert receipt.backends == ("bull",)
    assert receipt.failures[0].backend == "temporal"
    assert receipt.failures[0].error and receipt.failures[0].error.startswith(
        "failed" if failure == "unavailable" else "unknown"
    )


async def test_dual_with_both_down_raises() -> None:
    router, b = router_with(**queues(email_send={"mode": "dual"}))
    b["temporal"].fail_with = b["bull"].fail_with = "unavailable"
    with pytest.raises(BackendUnavailable):
        await router.enqueue("email-send", {}, job_id="m-1")
    b["temporal"].fail_with = "unknown"
    with pytest.raises(EnqueueOutcomeUnknown):
        await router.enqueue("email-send", {}, job_id="m-1")


async def test_shadow_never_slows_or_fails_the_caller() -> None:
    counts = Counts()
    router, b = router_with(**queues(email_send={"mode": "shadow"}))
    b["temporal"].latency_s = 1.0
    b["temporal"].fail_with = "unknown"
    started = time.perf_counter()
    receipt = await router.enqueue("email-send", {}, job_id="m-1")
    assert time.perf_counter() - started < 0.1
    assert receipt.backends == ("bull",) and receipt.shadow_started
    await router.aclose(shadow_grace_s=2)
    assert counts("queue_router_shadow_total", queue="email-send", result="failed") == 1


async def test_shadow_copy_is_marked_and_bounded() -> None:
    counts = Counts()
    router, b = router_with(shadow_max_in_flight=3, **queues(email_send={"mode": "shadow"}))
    b["temporal"].latency_s = 0.05
    receipts = [await router.enqueue("email-send", {}, job_id=f"m-{i}") for i in range(5)]
    assert [r.shadow_started for r in receipts] == [True, True, True, False, False]
    await router.aclose()
    assert all(job.request.shadow for job in b["temporal"].jobs.values())
    shadows = {r: counts("queue_router_shadow_total", queue="email-send", result=r)
               for r in ("started", "ok", "dropped", "failed")}  # fmt: skip
    assert shadows == {"started": 3, "ok": 3, "dropped": 2, "failed": 0}


async def test_options_take_queue_defaults() -> None:
    router, b = router_with(
        **queues(email_send={"mode": "bull", "default_job_options": {
            "attempts": 3, "removeOnComplete": True, "backoff": 1000}})
    )  # fmt: skip
    await router.enqueue("email-send", {}, job_id="m-1", options=JobOptions(attempts=5))
    options = b["bull"].jobs[("email-send", "m-1")].request.options
    assert options.to_bull() == {
        "attempts": 5, "delay": 0, "backoff": {"type": "fixed", "delay": 1000},
        "removeOnComplete": True,
    }  # fmt: skip


def cyclic() -> dict[str, object]:
    data: dict[str, object] = {"to": "a@b.c"}
    data["again"] = [data]
    return data


def nested(depth: int) -> list[Any]:
    """Lists inside lists ``depth`` deep: past what the JSON encoder recurses into."""
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("data", "job_id", "problem"),
    [
        ({"when": object()}, "ok-1", "not JSON-serializable"),
        ({"x": float("nan")}, "ok-1", "not JSON-serializable"),
        ({"blob": "x" * 3_000_000}, "ok-1", "QUEUE_ROUTER_MAX_PAYLOAD_BYTES=2097152"),
        ({"blob": "é" * 1_100_000}, "ok-1", "2200011 bytes as JSON"),  # 1.1M characters
        (nested(100_000), "ok-1", "nested"),
        (cyclic(), "ok-1", "contains itself"),
    ],
)
async def test_bad_payloads_write_nothing(data: object, job_id: str, problem: str) -> None:
    router, b = router_with(**queues(email_send={"mode": "dual"}))
    with pytest.raises(PayloadError, match=problem) as info:
        await router.enqueue("email-send", data, job_id=job_id)
    assert "email-send" in str(info.value)
    assert all(backend.calls == 0 for backend in b.values())


@pytest.mark.parametrize(
    ("job_id", "name", "problem"),
    [
        ("a:b", None, "must be 1-128 letters"),
        ("12345", None, "all digits"),
        ("wait", None, "reserved Bull key"),
        ("ok-1", "n" * 300, "must be 1-256 characters"),
    ],
)
async def test_bad_ids_and_names_are_invalid_jobs_not_payload_errors(
    job_id: str, name: str | None, problem: str
) -> None:
    router, b = router_with(**queues(email_send={"mode": "dual"}))
    with pytest.raises(InvalidJobError, match=problem) as info:
        await router.enqueue("email-send", {}, job_id=job_id, name=name)
    assert not isinstance(info.value, PayloadError)
    assert "email-send" in str(info.value)
    assert all(backend.calls == 0 for backend in b.values())


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        ({"key": 42}, "routing key 42 must be a string"),
        ({"options": {"attempts": 3}}, "options must be a JobOptions"),
    ],
)
async def test_arguments_of_the_wrong_type_are_invalid_jobs(
    arguments: dict[str, Any], problem: str
) -> None:
    router, b = router_with(**queues(email_send={"mode": "dual"}))
    with pytest.raises(InvalidJobError, match=problem):
        await router.enqueue("email-send", {}, job_id="ok-1", **arguments)
    assert all(backend.calls == 0 for backend in b.values())


async def test_a_batch_item_that_is_not_a_job_fails_alone() -> None:
    router, b = router_with()
    items: list[Any] = [
        Job({}, job_id="one"),
        {"data": {}, "job_id": "two"},
        Job({}, job_id="three"),
    ]
    results = await router.enqueue_many("email-send", items)
    assert [type(r).__name__ for r in results] == ["Receipt", "InvalidJobError", "Receipt"]
    assert "must be a Job" in str(results[1])
    assert sorted(job_id for _, job_id in b["bull"].jobs) == ["one", "three"]


async def test_bad_input_sorts_under_not_enqueued() -> None:
    router, _ = router_with()
    for call in (
        router.enqueue("email-sned", {}),
        router.enqueue("email-send", {}, job_id="a:b"),
        router.enqueue("email-send", {"x": object()}),
    ):
        with pytest.raises(NotEnqueuedError):
            await call


async def test_unknown_queue() -> None:
    router, _ = router_with()
    with pytest.raises(UnknownQueueError, match="did you mean email-send"):
        await router.enqueue("email-sned", {})
    for not_a_name in (None, 42):  # was a TypeError from the suggestion lookup
        with pytest.raises(UnknownQueueError, match=f"queue {not_a_name!r} is not a name"):
            await router.enqueue(not_a_name, {})  # type: ignore[arg-type]


async def test_same_job_id_twice_is_one_job() -> None:
    router, b = router_with(**queues(email_send={"mode": "dual"}))
    first = await router.enqueue("email-send", {}, job_id="m-1")
    results = await asyncio.gather(
        *(router.enqueue("email-send", {}, job_id="m-1") for _ in range(50))
    )
    assert not first.placements[0].existing
    assert all(p.existing for r in results for p in r.placements)
    assert len(b["bull"].jobs) == len(b["temporal"].jobs) == 1


def test_sync_facade_has_the_same_semantics() -> None:
    backends = {n: MemoryBackend(n) for n in ("bull", "rq", "temporal")}
    router = QueueRouter(Settings.from_env(use_temporal_workflows=True), backends=backends)
    backends["temporal"].fail_with = "unknown"
    with queue_router.SyncQueueRouter(router) as sync:
        with pytest.raises(EnqueueOutcomeUnknown):
            sync.enqueue_sync("email-send", {}, job_id="m-1")
        backends["temporal"].fail_with = None
        receipt = sync.enqueue_sync("email-send", {"to": "a"}, job_id="m-2")
        assert receipt.backends == ("temporal",)
        assert sync.route("email-send", "m-2").to_temporal


def test_the_routers_request_is_the_dataclass_s_own() -> None:
    """``resolved_request`` sets the slots itself (for speed): every field holds what
    ``EnqueueRequest(...)`` would hold, and the request is as frozen."""
    given = {name: f"value of {name}" for name in ("queue", "job_id", "job_name", "data",
             "data_json", "options", "timestamp_ms", "workflow_type", "task_queue",
             "rq_function", "versioning", "list_key", "workflow_id", "list_envelope")}  # fmt: skip
    made = resolved_request(**given)  # type: ignore[arg-type]  # distinct values, any type
    assert made == EnqueueRequest(**given)  # type: ignore[arg-type]
    assert (made.shadow, made.compare_within_s) == (False, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.job_id = "another"  # type: ignore[misc]


def test_a_placement_and_a_receipt_are_the_dataclass_s_own() -> None:
    """``placed`` and ``receipt`` set the slots themselves, as ``resolved_request`` does."""
    detail = {"queue": "q"}
    placement = placed("bull", "j-1", existing=True, detail=detail)
    assert placement == Placement(backend="bull", job_id="j-1", existing=True, detail=detail)
    route = Route("q", Mode.PERCENTAGE, 7, 25.0, "temporal", secondary=None, shadow="bull")
    request = resolved_request(
        queue="q", job_id="j-1", job_name="n", data=1, data_json="1", options=JobOptions(),
        timestamp_ms=5, workflow_type="w", task_queue="t", rq_function="f", versioning=None,
        list_key="", workflow_id="q/j-1", list_envelope=False,
    )  # fmt: skip
    failed = Placement(backend="temporal", job_id="j-1", error="down")
    made = receipt(route, request, (placement,), failures=(failed,), fell_back=True,
                   reason="down", shadow_started=True)  # fmt: skip
    assert made == Receipt(
        queue="q", job_id="j-1", mode=Mode.PERCENTAGE, bucket=7, percentage=25.0,
        placements=(placement,), failures=(failed,), fell_back=True, fallback_reason="down",
        shadow_started=True,
    )  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.job_id = "another"  # type: ignore[misc]


def test_a_builder_that_misses_a_field_fails_at_import() -> None:
    with pytest.raises(TypeError, match="its fields are"):
        slot_setters(Placement, "backend", "job_id")


def test_public_api_is_pinned() -> None:
    assert sorted(queue_router.__all__) == [
        "AsyncLifecycle", "Backend", "BackendUnavailable", "Backoff", "ConfigError",
        "CredentialsRejected", "EnqueueOutcomeUnknown", "EnqueueRequest", "InvalidJobError",
        "Job", "JobContext", "JobOptions", "Mode", "NotEnqueuedError", "PayloadError", "Placement",
        "QueueConfig", "QueueRouter", "QueueRouterError", "Receipt", "Route", "Settings",
        "StartupError", "SyncQueueRouter", "UnknownQueueError", "bucket", "processor",
    ]  # fmt: skip
    for name in queue_router.__all__:
        error = getattr(queue_router, name)
        if isinstance(error, type) and issubclass(error, Exception):
            assert issubclass(error, queue_router.QueueRouterError)


async def test_rollback_guard_skips_temporal_while_it_keeps_failing() -> None:
    counts = Counts()
    router, b = router_with(use_temporal_workflows=True, guard_failures=3, guard_cooldown_ms=200)
    b["temporal"].fail_with = "unavailable"
    for i in range(3):
        assert (await router.enqueue("email-send", {}, job_id=f"a-{i}")).fell_back
    assert b["temporal"].calls == 3 and guard_open("email-send") == 1
    skipped = await router.enqueue("email-send", {}, job_id="a-3")
    assert skipped.fell_back and "rollback guard open" in (skipped.fallback_reason or "")
    assert b["temporal"].calls == 3, "an open guard must not wait on Temporal"
    await asyncio.sleep(0.25)
    b["temporal"].fail_with = None  # Temporal is back: the probe succeeds and closes the guard
    probe = await router.enqueue("email-send", {}, job_id="a-4")
    assert probe.backends == ("temporal",) and not probe.fell_back
    assert (await router.enqueue("email-send", {}, job_id="a-5")).backends == ("temporal",)
    assert guard_open("email-send") == 0
    assert counts("queue_router_fallback_total", queue="email-send", reason="guard_open") == 1


async def test_failed_probe_reopens_the_guard() -> None:
    router, b = router_with(use_temporal_workflows=True, guard_failures=1, guard_cooldown_ms=100)
    b["temporal"].fail_with = "unavailable"
    await router.enqueue("email-send", {}, job_id="b-0")
    await asyncio.sleep(0.15)
    await router.enqueue("email-send", {}, job_id="b-1")  # the probe, failing
    await router.enqueue("email-send", {}, job_id="b-2")  # guard open again: skipped
    assert b["temporal"].calls == 2 and guard_open("email-send") == 1


async def test_retry_of_an_unknown_outcome_never_falls_back() -> None:
    router, b = router_with(use_temporal_workflows=True)
    b["temporal"].fail_with = "unknown"
    with pytest.raises(EnqueueOutcomeUnknown):
        await router.enqueue("email-send", {}, job_id="amb-1")
    b["temporal"].fail_with = "unavailable"  # the retry meets a Temporal that refuses
    with pytest.raises(EnqueueOutcomeUnknown, match="earlier start of this job"):
        await router.enqueue("email-send", {}, job_id="amb-1")
    assert not b["bull"].jobs, "a legacy copy could run the job twice"
    assert (await router.enqueue("email-send", {}, job_id="other")).fell_back
    b["temporal"].fail_with = None
    resolved = await router.enqueue("email-send", {}, job_id="amb-1")
    assert resolved.backends == ("temporal",)


async def test_a_job_can_turn_off_its_queues_default_lifo() -> None:
    lifo_queue = {"email-send": {"default_job_options": {"lifo": True}}}
    router, b = router_with(temporal_traffic_percentage=0, queues=lifo_queue)
    await router.enqueue("email-send", {}, job_id="own", options=JobOptions(lifo=False))
    await router.enqueue("email-send", {}, job_id="default")
    stored = {job_id: job.request.options for (_, job_id), job in b["bull"].jobs.items()}
    assert stored["own"].lifo is False and "lifo" not in stored["own"].to_bull()
    assert stored["default"].lifo is True and stored["default"].to_bull()["lifo"] is True


class RefusingBackend(MemoryBackend):
    async def startup(self) -> None:
        raise StartupError("preflight refused (test)")


def test_sync_router_stops_its_loop_thread_when_startup_fails() -> None:
    def loop_threads() -> int:
        return sum(t.name == "queue-router-loop" for t in threading.enumerate())

    before = loop_threads()
    backends = {"bull": RefusingBackend("bull"), "rq": MemoryBackend("rq"),
                "temporal": MemoryBackend("temporal")}  # fmt: skip
    router = QueueRouter(Settings.from_env(), backends=backends)
    with pytest.raises(StartupError, match="preflight refused"):
        queue_router.SyncQueueRouter(router)
    assert loop_threads() == before


def test_a_missing_backend_is_a_config_error_not_a_failed_job() -> None:
    backends = {"bull": MemoryBackend("bull")}
    with pytest.raises(ConfigError, match="needs a 'temporal' backend") as info:
        QueueRouter(Settings.from_env(), backends=backends)
    assert not isinstance(info.value, NotEnqueuedError)


async def test_temporal_refusing_credentials_falls_back_and_says_why() -> None:
    router, b = router_with(use_temporal_workflows=True)
    b["temporal"].fail_with = "credentials"
    receipt = await router.enqueue("email-send", {}, job_id="cred-1")
    assert receipt.backends == ("bull",) and receipt.fell_back
    assert "fail_with='credentials'" in (receipt.fallback_reason or "")


async def test_a_job_temporal_holds_never_falls_back_with_its_id() -> None:
    router, b = router_with(use_temporal_workflows=True)
    first = await router.enqueue("email-send", {}, job_id="held-1")
    b["temporal"].fail_with = "unavailable"
    again = await router.enqueue("email-send", {}, job_id="held-1")
    assert again.backends == ("temporal",) and again.placements[0].existing and not again.fell_back
    assert again.placements[0].job_id == first.placements[0].job_id
    assert b["bull"].calls == 0
    other = await router.enqueue("email-send", {}, job_id="new-1")
    assert other.fell_back and other.backends == ("bull",)


async def test_a_generated_job_id_is_never_all_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    """uuid4().hex is all digits about once in 3 million ids; Bull would reject it."""
    digits = iter([uuid.UUID(int=0x12345678901234567890123456789012), uuid.uuid4()])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(digits))
    router, _ = router_with()
    receipt = await router.enqueue("email-send", {})
    assert not receipt.job_id.isdigit()


def test_a_remembered_route_gives_way_to_a_live_change_at_once() -> None:
    router, _ = router_with()  # 0%: every key to Bull
    assert router.route("email-send", "user-1").primary == "bull"
    assert router.route("email-send", "user-1") is router.route("email-send", "user-1")
    router._apply_live(LiveState({"email-send": LiveSetting(None, 100.0, "ramp", "me", 0.0)}))
    assert router.route("email-send", "user-1").primary == "temporal"


async def test_a_closed_router_refuses_jobs_instead_of_reopening_connections() -> None:
    """After ``aclose`` a router no longer follows live settings and nothing would close
    a connection it opened again: enqueueing then is a programming error, said at once."""
    router, b = router_with()
    await router.enqueue("email-send", {}, job_id="before")
    await router.aclose()
    with pytest.raises(RuntimeError, match="QueueRouter is closed"):
        await router.enqueue("email-send", {}, job_id="after")
    with pytest.raises(RuntimeError, match="QueueRouter is closed"):
        await router.enqueue_many("email-send", [Job({}, job_id="after-many")])
    await router.aclose()  # closing twice is harmless
    assert sorted(job_id for _, job_id in b["bull"].jobs) == ["before"]


def test_a_router_used_from_a_second_event_loop_says_so_before_writing() -> None:
    """Its connections and background tasks belong to the loop it first ran on; from
    another (a second ``asyncio.run``) a write would go out on the old loop's socket and
    come back as 'outcome unknown' on every retry."""
    router, b = router_with()
    asyncio.run(router.enqueue("email-send", {}, job_id="first-loop"))
    with pytest.raises(RuntimeError, match="one router per event loop"):
        asyncio.run(router.enqueue("email-send", {}, job_id="second-loop"))
    assert sorted(job_id for _, job_id in b["bull"].jobs) == ["first-loop"]
