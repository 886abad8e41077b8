"""The pure parts of deciding by evidence: verdicts, health checks, resuming, durations."""

from __future__ import annotations

import argparse
import json

import pytest

from queue_router.cli.rollout import duration
from queue_router.config import Settings
from queue_router.contract import EnqueueRequest
from queue_router.errors import ConfigError
from queue_router.evidence.compare import LegacyOutcome, compare
from queue_router.evidence.ledger import RunStats, ShadowCounts
from queue_router.evidence.rollout import Thresholds, assess, next_step
from queue_router.receipts import Backoff, JobOptions
from queue_router.workers.lists import envelope_of_element
from workflows.envelope import ShadowCheck

LIMITS = Thresholds(min_samples=10)


def done(value: object, effects: list[str] | None = None) -> LegacyOutcome:
    return LegacyOutcome("completed", value, effects=effects or [])


def shadow(value: object, effects: list[str] | None = None) -> ShadowCheck:
    return ShadowCheck("q", "1", "completed", value, effects=effects or [])


@pytest.mark.parametrize(
    ("legacy", "check", "verdict"),
    [
        (done({"a": 1, "at": 1}), shadow({"a": 1, "at": 2}), "match"),  # "at" is ignored
        (done({"a": 1}), shadow({"a": 2}), "mismatch"),
        (done({"a": [{"at": 1, "b": 2}]}), shadow({"a": [{"at": 9, "b": 2}]}), "match"),
        (done(1, ["send"]), shadow(1, []), "mismatch"),  # legacy sent, Temporal would not
        (done(1, []), shadow(1, ["send"]), "mismatch"),
        (done(1, ["send"]), shadow(1, ["send"]), "match"),
        (LegacyOutcome("failed", error="boom"), shadow(1), "mismatch"),
        (LegacyOutcome("failed", error="boom"), ShadowCheck("q", "1", "failed"), "match"),
        (LegacyOutcome("gone"), shadow(1), "ignored"),
        (LegacyOutcome("pending"), shadow(1), "ignored"),
    ],
)
def test_comparison_verdicts(legacy: LegacyOutcome, check: ShadowCheck, verdict: str) -> None:
    assert compare(legacy, check, ignore=["at"])[0] == verdict


def test_a_compare_function_replaces_json_equality_and_effects_can_be_left_out() -> None:
    close = compare(done(1.0), shadow(1.04), compare_fn=lambda a, b: abs(a - b) < 0.1)
    assert close[0] == "match"
    assert compare(done(1, ["send"]), shadow(1), effects=False)[0] == "match"


def stats(jobs: int, failed: int = 0, ms: float = 5.0) -> RunStats:
    return RunStats(jobs, failed, tuple([ms] * jobs))


def test_health_needs_samples_on_both_sides_before_judging() -> None:
    verdict = assess(stats(5, failed=5), stats(100), ShadowCounts(), guard_open=False,
                     limits=LIMITS)  # fmt: skip
    assert verdict.decision == "wait"


def test_error_rate_is_judged_against_legacy_with_a_floor() -> None:
    one_error = assess(stats(200, failed=1), stats(200), ShadowCounts(), guard_open=False,
                       limits=LIMITS)  # fmt: skip
    assert one_error.decision == "healthy"  # 0.5% < the 1% floor, though legacy had none
    double = assess(stats(100, failed=10), stats(100, failed=4), ShadowCounts(),
                    guard_open=False, limits=LIMITS)  # fmt: skip
    assert double.decision == "trip" and "error rate" in double.reasons[0]


def test_p99_mismatches_and_the_guard_each_trip() -> None:
    slow = assess(stats(50, ms=400), stats(50, ms=20), ShadowCounts(), guard_open=False,
                  limits=LIMITS)  # fmt: skip
    assert slow.decision == "trip" and slow.reasons[0].startswith("p99")
    mismatching = assess(stats(50), stats(50), ShadowCounts(matched=90, mismatched=10),
                         guard_open=False, limits=LIMITS)  # fmt: skip
    assert mismatching.decision == "trip" and "mismatch" in mismatching.reasons[0]
    guarded = assess(stats(50), stats(50), ShadowCounts(), guard_open=True, limits=LIMITS)
    assert guarded.decision == "trip"


def test_nearest_rank_p99() -> None:
    assert RunStats(100, 0, tuple(float(i) for i in range(1, 101))).p99_ms == 99.0
    assert RunStats(1, 0, (7.0,)).p99_ms == 7.0


@pytest.mark.parametrize(
    ("current", "expected"),
    [(0, (0, False)), (5, (0, True)), (10, (1, False)), (25, (1, True)), (100, (3, True))],
)
def test_a_restarted_rollout_resumes_from_the_live_percentage(
    current: float, expected: tuple[int, bool]
) -> None:
    assert next_step([5, 25, 50, 100], current) == expected


def test_durations() -> None:
    assert [duration(t) for t in ("2s", "10m", "1h", "500ms", "3")] == [2, 600, 3600, 0.5, 3]
    with pytest.raises(argparse.ArgumentTypeError):
        duration("ten minutes")


def test_a_request_survives_its_record() -> None:
    request = EnqueueRequest(
        queue="q", job_id="1", job_name="n", data={"a": [1, 2]}, data_json='{"a":[1,2]}',
        options=JobOptions(attempts=3, backoff=Backoff("exponential", 100), delay_ms=5),
        timestamp_ms=5, workflow_type="w", task_queue="t", rq_function="f",
    )  # fmt: skip
    assert EnqueueRequest.from_record(json.loads(json.dumps(request.to_record()))) == request


def test_a_bad_compare_setting_names_the_queue_and_field() -> None:
    with pytest.raises(ConfigError, match=r"QUEUE_ROUTER_QUEUES.*calc.*compare"):
        Settings.from_env(queues={"calc": {"workflow_type": "calcJob", "compare": "no path"}})
    with pytest.raises(ConfigError, match="shadow_percentage"):
        Settings.from_env(queues={"calc": {"workflow_type": "calcJob", "shadow_percentage": 101}})


def test_a_deployment_name_without_a_build_id_names_both_variables() -> None:
    with pytest.raises(
        ConfigError, match="TEMPORAL_WORKER_DEPLOYMENT_NAME needs TEMPORAL_WORKER_BUILD_ID"
    ):
        Settings.from_env(temporal_worker_deployment_name="billing")
    versioned = Settings.from_env(temporal_worker_deployment_name="billing",
                                  temporal_worker_build_id="v2")  # fmt: skip
    assert versioned.worker.temporal_worker_deployment_name == "billing"


def test_a_queue_can_pin_its_job_workflows() -> None:
    settings = Settings.from_env(queues={"calc": {"workflow_type": "calcJob",
                                                  "versioning": "pinned"}})  # fmt: skip
    assert settings.queue("calc").versioning == "pinned"
    assert settings.queue("email-send").versioning is None
    with pytest.raises(ConfigError, match="versioning"):
        Settings.from_env(queues={"calc": {"workflow_type": "calcJob", "versioning": "sticky"}})


def test_list_elements_become_jobs_whatever_their_shape() -> None:
    envelope = envelope_of_element("q", '{"job_id": "j-1", "queue": "q", "data": {"a": 1}}')
    assert (envelope.job_id, envelope.data) == ("j-1", {"a": 1})
    plain = envelope_of_element("q", '{"a": 1}')
    assert plain.data == {"a": 1} and len(plain.job_id) == 16
    assert plain.job_id == envelope_of_element("q", '{"a": 1}').job_id  # stable
    assert envelope_of_element("q", "not json at all").data == "not json at all"
