"""The rollback guard: every way a probe can end closes or re-opens it, never leaves it stuck."""

from __future__ import annotations

import asyncio

import pytest

from queue_router import EnqueueOutcomeUnknown, QueueRouter, Settings
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
    assert guard.record_failure() is True
    assert guard.admit() is Admission.FALL_BACK
    clock.now = 11
    return guard


def test_success_closes_and_failure_reopens() -> None:
    clock = Clock()
    guard = opened_guard(clock)
    assert guard.admit() is Admission.PROBE
    assert guard.admit() is Admission.FALL_BACK  # one probe at a time
    guard.record_failure()
    assert guard.admit() is Admission.FALL_BACK and guard.retry_in_s() == 10
    clock.now = 22
    assert guard.admit() is Admission.PROBE
    guard.record_success()
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
    return QueueRouter(settings, backends=backends), backends  # type: ignore[arg-type]


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
