"""Processor plumbing without servers: registry, retry translation, shadow, RQ attempts."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import activities
import queue_router.processors
import workflows
from activities.legacy import attempt_of
from queue_router import Settings
from queue_router.errors import ConfigError, JobError, ProcessorNotRegistered
from queue_router.processors import JobContext, Registry
from queue_router.processors.registry import run_processor
from workflows import JobEnvelope
from workflows.retry import DEFAULT_RUN_TIMEOUT, retry_policy, run_timeout


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (activities, ["ProcessorActivities"]),
        (queue_router.processors, [
            "EffectClaims", "JobContext", "Processor", "Registry", "Runtime", "default_registry",
            "effect_key", "import_processor_modules", "processor", "run_processor",
        ]),
        (workflows, [
            "ALL_WORKFLOWS", "AlertInput", "AlertStatus", "AlertWorkflow", "ApprovalRequest",
            "ApprovalStatus", "ApprovalWorkflow", "AuditEntry", "Decision", "EffectRecord",
            "JobEnvelope", "JobResult", "JobWorkflow", "RUN_PROCESSOR", "SimpleApprovalWorkflow",
            "TraceInput", "TraceResult", "TraceWorkflow", "workflow_id",
        ]),
    ],
    ids=lambda value: getattr(value, "__name__", "names"),
)  # fmt: skip
def test_public_surfaces_are_pinned(module: ModuleType, names: list[str]) -> None:
    assert sorted(module.__all__) == sorted(names)
    for name in names:
        assert getattr(module, name) is not None  # each name resolves in its own module


@pytest.mark.parametrize(
    ("options", "attempts", "initial", "coefficient", "maximum"),
    [
        ({}, 1, timedelta(milliseconds=1), 1.0, timedelta(milliseconds=1)),
        ({"attempts": 3}, 3, timedelta(milliseconds=1), 1.0, timedelta(milliseconds=1)),
        ({"attempts": 4, "backoff": 2000}, 4, timedelta(seconds=2), 1.0, timedelta(seconds=2)),
        ({"attempts": 3, "backoff": {"type": "fixed", "delay": 500}}, 3,
         timedelta(milliseconds=500), 1.0, timedelta(milliseconds=500)),
        ({"attempts": 5, "backoff": {"type": "exponential", "delay": 1000}}, 5,
         timedelta(seconds=1), 2.0, timedelta(seconds=16)),
    ],
)  # fmt: skip
def test_bull_options_translate_to_a_retry_policy(
    options: dict[str, Any], attempts: int, initial: timedelta, coefficient: float,
    maximum: timedelta,
) -> None:  # fmt: skip
    policy = retry_policy(options)
    assert policy.maximum_attempts == attempts
    assert policy.initial_interval == initial
    assert policy.backoff_coefficient == coefficient
    assert policy.maximum_interval == maximum


def test_bull_timeout_bounds_one_run() -> None:
    assert run_timeout({"timeout": 1500}) == timedelta(milliseconds=1500)
    assert run_timeout({}) == DEFAULT_RUN_TIMEOUT


def test_registry_refuses_a_second_processor_for_a_queue() -> None:
    registry = Registry()

    @registry.processor("q1", "q2")
    async def first(job: JobContext) -> None:
        pass

    registry.add("q1", first)  # the same function again is harmless
    with pytest.raises(ConfigError, match=r"queue 'q2' already has processor .*first"):

        @registry.processor("q2")
        async def second(job: JobContext) -> None:
            pass

    with pytest.raises(ProcessorNotRegistered, match=r"'q3' .*registered: q1, q2"):
        registry.get("q3")


def run(registry: Registry, envelope: JobEnvelope) -> Any:
    return asyncio.run(run_processor(registry, envelope, attempt=1, runtime="temporal",
                                     settings=Settings.from_env(), claims=None))  # fmt: skip


def test_shadow_effect_records_and_performs_nothing() -> None:
    registry, performed = Registry(), []

    @registry.processor("q")
    async def charge(job: JobContext) -> Any:
        async def act() -> str:
            performed.append(job.job_id)
            return "charged"

        return await job.effect("charge", "charge card 4242 for 10 EUR", act)

    result = run(registry, JobEnvelope("q", "j1", "charge", {}, shadow=True))
    assert performed == [] and result.result is None and result.shadow
    assert [(e.description, e.outcome) for e in result.effects] == [
        ("would charge card 4242 for 10 EUR", "suppressed")
    ]
    with pytest.raises(JobError, match="needs a claim store"):
        run(registry, JobEnvelope("q", "j1", "charge", {}))


@pytest.mark.parametrize(
    ("attempts", "retries_left", "attempt"), [(1, None, 1), (3, 2, 1), (3, 1, 2), (3, 0, 3)]
)
def test_rq_attempt_counts_up_as_retries_count_down(
    attempts: int, retries_left: int | None, attempt: int
) -> None:
    job = SimpleNamespace(meta={"queue_router": {"options": {"attempts": attempts}}},
                          retries_left=retries_left)  # fmt: skip
    assert attempt_of(job) == attempt  # type: ignore[arg-type]


def test_processor_modules_setting_is_a_comma_list() -> None:
    settings = Settings.from_env(processors=" myapp.jobs, activities.email ,,")
    assert settings.worker.processor_modules == ["myapp.jobs", "activities.email"]
