"""The same processors under a real RQ worker process, and dual-write across both worlds."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from rq.job import Job, JobStatus
from temporalio.client import Client

from activities.email import send_email
from queue_router import Backoff, JobOptions, Settings
from queue_router.processors import Registry
from tests.conftest import worker_env
from tests.sinks import SmtpSink
from workflows import JobResult, workflow_id

pytestmark = pytest.mark.integration

TEST_QUEUES = {
    name: {"mode": "rq", "workflow_type": "documentGeneration"} for name in ("flaky", "hopeless")
}


async def rq_job_done(settings: Settings, job_id: str, within_s: float = 30) -> Job:
    connection = redis.Redis.from_url(settings.redis.redis_url)
    deadline = asyncio.get_running_loop().time() + within_s
    try:
        while True:
            job = Job.fetch(job_id, connection=connection)
            if job.get_status() in (JobStatus.FINISHED, JobStatus.FAILED):
                return job
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"RQ job {job_id} still {job.get_status()} after {within_s}s")
            await asyncio.sleep(0.1)
    finally:
        connection.close()


def runs(redis_db: redis.Redis, queue: str, job_id: str) -> list[str]:
    return [str(r) for r in redis_db.lrange(f"test:runs:{queue}:{job_id}", 0, -1)]


@pytest.mark.parametrize(("attempts", "status"), [(3, JobStatus.FINISHED), (2, JobStatus.FAILED)])
async def test_rq_worker_retries_as_bull_options_say(
    attempts: int, status: JobStatus, make_router: Callable[..., Any],
    spawn_worker: Callable[..., subprocess.Popen[bytes]], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router = await make_router(queues=TEST_QUEUES)
    spawn_worker(["rq-worker", "--queue", "flaky"], worker_env(router.settings))
    job_id = f"flaky-{uuid.uuid4().hex[:8]}"
    await router.enqueue("flaky", {}, job_id=job_id,
                         options=JobOptions(attempts=attempts, backoff=Backoff("fixed", 10)))  # fmt: skip
    job = await rq_job_done(router.settings, job_id)
    assert job.get_status() == status
    assert runs(redis_db, "flaky", job_id) == [
        f"rq:{n}:run" for n in range(1, min(attempts, 3) + 1)
    ]
    if status == JobStatus.FINISHED:
        returned: Any = job.return_value()
        assert returned["result"] == 3


async def test_rq_worker_stops_retrying_a_permanent_error(
    make_router: Callable[..., Any], spawn_worker: Callable[..., subprocess.Popen[bytes]],
    redis_db: redis.Redis,
) -> None:  # fmt: skip
    router = await make_router(queues=TEST_QUEUES)
    spawn_worker(["rq-worker", "--queue", "hopeless"], worker_env(router.settings))
    job_id = f"hopeless-{uuid.uuid4().hex[:8]}"
    await router.enqueue("hopeless", {}, job_id=job_id, options=JobOptions(attempts=5))
    job = await rq_job_done(router.settings, job_id)
    assert job.get_status() == JobStatus.FAILED
    await asyncio.sleep(1.5)  # a retry, if any, would have run by now
    assert runs(redis_db, "hopeless", job_id) == ["rq:1:run"]
    assert "can never succeed" in str(job.latest_result().exc_string)  # type: ignore[union-attr]


async def test_dual_write_to_rq_and_temporal_sends_each_email_once(
    make_router: Callable[..., Any], start_worker: Callable[..., Any],
    spawn_worker: Callable[..., subprocess.Popen[bytes]], temporal_client: Client, smtp: SmtpSink,
) -> None:  # fmt: skip
    smtp_env = {"smtp_host": "127.0.0.1", "smtp_port": smtp.port}
    registry = Registry()
    registry.add("email-send", send_email)
    await start_worker(registry, **smtp_env)
    router = await make_router(temporal_dual_write=True, legacy_backend="rq", **smtp_env)
    spawn_worker(["rq-worker", "--queue", "email-send"],
                 worker_env(router.settings, SMTP_HOST="127.0.0.1", SMTP_PORT=str(smtp.port)))  # fmt: skip
    run = uuid.uuid4().hex[:6]
    job_ids = [f"dual-{run}-{n}" for n in range(20)]
    for job_id in job_ids:
        receipt = await router.enqueue(
            "email-send", {"to": f"{job_id}@example.com", "subject": "hi", "text": "once"},
            job_id=job_id,
        )  # fmt: skip
        assert set(receipt.backends) == {"rq", "temporal"}
    outcomes: dict[str, list[str]] = {}
    for job_id in job_ids:
        handle = temporal_client.get_workflow_handle(
            workflow_id("email-send", job_id), result_type=JobResult
        )
        by_temporal = await handle.result()
        by_rq: Any = (await rq_job_done(router.settings, job_id)).return_value()
        outcomes[job_id] = sorted([by_temporal.effects[0].outcome, by_rq["effects"][0]["outcome"]])
        assert by_rq["result"]["message_id"] == by_temporal.result["message_id"]
    assert all(pair == ["performed", "replayed"] for pair in outcomes.values()), outcomes
    sent = smtp.message_ids()
    assert len(sent) == 20 and len(set(sent)) == 20


async def test_a_job_a_real_rq_worker_failed_migrates_and_rolls_back(
    make_router: Callable[..., Any], spawn_worker: Callable[..., subprocess.Popen[bytes]],
    redis_db: redis.Redis, temporal_client: Client,
) -> None:  # fmt: skip
    from queue_router.cli.migration import open_migrator
    from queue_router.migration import MigrationPlan, rollback

    router = await make_router(queues=TEST_QUEUES)
    worker = spawn_worker(
        ["rq-worker", "--queue", "hopeless", "--burst"], worker_env(router.settings)
    )
    job_id = f"hopeless-{uuid.uuid4().hex[:8]}"
    await router.enqueue("hopeless", {"x": 1}, job_id=job_id)
    assert (await rq_job_done(router.settings, job_id)).get_status() == JobStatus.FAILED
    await asyncio.to_thread(worker.wait, 30)
    failed_before = redis_db.zrange("rq:failed:hopeless", 0, -1, withscores=True)
    async with open_migrator(router.settings) as migrator:
        report = await migrator.run(MigrationPlan(["hopeless"], states=("failed",)))
        assert report.counts() == {"moved": 1}, report.as_json()
        assert redis_db.zcard("rq:failed:hopeless") == 0 and not redis_db.exists(f"rq:job:{job_id}")
        back = await rollback(
            migrator, await migrator.temporal.client(), ["hopeless"], terminate=True
        )
    assert back.counts() == {"restored": 1}
    assert redis_db.zrange("rq:failed:hopeless", 0, -1, withscores=True) == failed_before
    job = await rq_job_done(router.settings, job_id)  # readable by RQ again, as it was
    assert job.get_status() == JobStatus.FAILED and job.args == ({"x": 1},)
