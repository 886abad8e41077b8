"""The rollback guard: every way a probe can end closes or re-opens it, never leaves it stuck."""

from __future__ import annotations

import asyncio
import time

import pytest

from queue_router import EnqueueOutcomeUnknown, QueueRouter, Settings
from queue_router.control import LiveState
from queue_router.guard import Admission, RollbackGuard
from queue_router.testing import MemoryBackend


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def opened_guard(clock: Clock) -> RollbackGuard:
    guard = RollbackGuard(failures=1, cooldown_s=10, clock=clock)
    assert guard.admit() is Admission.GO
    assert guard.record_failure(guard.generation) is True
    assert guard.admit() is Admission.FALL_BACK
    clock.now = 11
    return guard


def test_success_closes_and_failure_reopens() -> None:
    clock = Clock()
    guard = opened_guard(clock)
    assert guard.admit() is Admission.PROBE
    assert guard.admit() is Admission.FALL_BACK  # one probe at a time
    guard.record_failure(guard.generation)
    assert guard.admit() is Admission.FALL_BACK and guard.retry_in_s() == 10
    clock.now = 22
    assert guard.admit() is Admission.PROBE
    assert guard.record_success(guard.generation) is True
    guard.settle_probe()  # already settled: a no-op
    assert guard.admit() is Admission.GO and not guard.is_open


def test_a_probe_without_an_answer_reopens_for_a_cooldown() -> None:
    clock = Clock()
    guard = opened_guard(clock)
    assert guard.admit() is Admission.PROBE
    guard.settle_probe()  # unknown outcome, cancelled, any other error
    assert guard.admit() is Admission.FALL_BACK and guard.retry_in_s() == 10
    clock.now = 22
    assert guard.admit() is Admission.PROBE  # before the fix: FALL_BACK forever


def router_with_guard() -> tuple[QueueRouter, dict[str, MemoryBackend]]:
    backends = {n: MemoryBackend(n) for n in ("bull", "rq", "temporal")}
    settings = Settings.from_env(
        use_temporal_workflows=True, guard_failures=1, guard_cooldown_ms=100
    )
    return QueueRouter(settings, backends=backends), backends


async def open_and_wait(router: QueueRouter, temporal: MemoryBackend) -> None:
    temporal.fail_with = "unavailable"
    receipt = await router.enqueue("email-send", {}, job_id="opens")
    assert receipt.fell_back
    await asyncio.sleep(0.15)  # the cooldown is over: the next call is the probe


async def test_probe_with_unknown_outcome_does_not_stick_the_guard_open() -> None:
    router, b = router_with_guard()
    await open_and_wait(router, b["temporal"])
    b["temporal"].fail_with = "unknown"
    with pytest.raises(EnqueueOutcomeUnknown):
        await router.enqueue("email-send", {}, job_id="probe")
    held = await router.enqueue("email-send", {}, job_id="during-cooldown")
    assert held.fell_back and "rollback guard open" in (held.fallback_reason or "")
    b["temporal"].fail_with = None
    await asyncio.sleep(0.15)
    receipt = await router.enqueue("email-send", {}, job_id="after")
    assert receipt.backends == ("temporal",) and not receipt.fell_back


async def test_cancelled_probe_does_not_stick_the_guard_open() -> None:
    router, b = router_with_guard()
    await open_and_wait(router, b["temporal"])
    b["temporal"].fail_with = None
    b["temporal"].latency_s = 30
    probe = asyncio.create_task(router.enqueue("email-send", {}, job_id="probe"))
    await asyncio.sleep(0.05)
    probe.cancel()
    with pytest.raises(asyncio.CancelledError):
        await probe
    b["temporal"].latency_s = 0
    await asyncio.sleep(0.15)
    receipt = await router.enqueue("email-send", {}, job_id="after")
    assert receipt.backends == ("temporal",) and not receipt.fell_back


async def test_a_call_in_flight_when_another_instance_opens_the_guard_does_not_close_it() -> None:
    """The flake of the shared-guard test: B had a Temporal start in flight when it read A's
    open guard; that start's success closed the guard for every instance at once."""
    router, b = router_with_guard()
    b["temporal"].latency_s = 0.2
    in_flight = asyncio.create_task(router.enqueue("email-send", {}, job_id="sent-before"))
    await asyncio.sleep(0.05)  # it is on its way to Temporal
    router._apply_live(LiveState({}, guard_open_until=time.time() + 5))  # A's shared guard
    assert (await in_flight).backends == ("temporal",)
    b["temporal"].latency_s = 0
    held = await router.enqueue("email-send", {}, job_id="after")
    assert held.fell_back and "rollback guard open" in (held.fallback_reason or "")


async def test_calls_in_flight_when_the_guard_opens_neither_close_it_nor_pass_for_its_probe() -> (
    None
):
    router, b = router_with_guard()
    temporal = b["temporal"]
    temporal.latency_s = 0.1
    early = [asyncio.create_task(router.enqueue("email-send", {}, job_id=f"early-{i}"))
             for i in range(2)]  # fmt: skip
    await asyncio.sleep(0.02)
    temporal.latency_s, temporal.fail_with = 0, "unavailable"
    assert (await router.enqueue("email-send", {}, job_id="opens")).fell_back  # open now
    temporal.fail_with = None
    assert [r.backends for r in await asyncio.gather(*early)] == [("temporal",)] * 2
    held = await router.enqueue("email-send", {}, job_id="still-held")
    assert held.fell_back and "rollback guard open" in (held.fallback_reason or "")


def test_late_answers_of_calls_let_through_before_the_guard_opened() -> None:
    clock = Clock()
    guard = RollbackGuard(failures=1, cooldown_s=10, clock=clock)
    early = guard.generation  # a call let through while closed, still in flight
    assert guard.record_failure(guard.generation) is True
    assert guard.record_success(early) is False and guard.is_open  # its late success
    clock.now = 11
    assert guard.admit() is Admission.PROBE
    probe = guard.generation
    assert guard.record_failure(early) is False  # another early call failing late: not the probe
    assert guard.admit() is Admission.FALL_BACK  # the probe is still out
    assert guard.record_success(probe) is True and not guard.is_open
    assert guard.record_failure(early) is False and not guard.is_open  # old news: not counted


def test_reading_the_shared_guard_again_is_not_a_new_opening() -> None:
    """Every instance re-reads the shared record each second (its own too): a re-read
    that counted as an opening would make the answer of the probe out then a late one."""
    clock = Clock()
    guard = RollbackGuard(failures=1, cooldown_s=10, clock=clock)
    guard.hold_open_until(10.0)  # another instance opened it
    opened = guard.generation
    clock.now = 9.9
    guard.hold_open_until(10.002)  # read again, a clock's jitter later
    assert guard.generation == opened and guard.retry_in_s() == pytest.approx(0.102)
    clock.now = 10.1
    assert guard.admit() is Admission.PROBE
    probe = guard.generation
    guard.hold_open_until(10.003)  # read again while the probe is out
    assert guard.record_success(probe) is True and not guard.is_open
