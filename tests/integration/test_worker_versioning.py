"""Worker Deployment versioning on the Temporal dev server, with two ``queue-router
worker`` processes (builds ``v1`` and ``v2`` of one deployment): which build runs which
workflow, and ``worker-ramp`` moving the work from ``v1`` to ``v2`` by evidence.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from temporalio.client import Client, WorkflowHandle
from temporalio.common import VersioningBehavior
from temporalio.service import RPCError

from queue_router import QueueRouter, Settings
from queue_router.evidence.build_ramp import Deployment
from tests.conftest import run_cli, worker_env
from tests.integration.test_rollout import steady_traffic
from workflows import ApprovalRequest, ApprovalWorkflow, Decision

QUEUES = {
    "calc": {"mode": "temporal", "workflow_type": "calcJob"},
    "calc-pinned": {"mode": "temporal", "workflow_type": "calcJob", "versioning": "pinned"},
}
RAMP = ["--steps", "50,100", "--every", "2s", "--min-samples", "5", "--json"]


def start_build(spawn_worker: Callable[..., Any], settings: Settings, deployment: str,
                build: str, **env: str) -> None:  # fmt: skip
    spawn_worker(["worker", "--deployment-name", deployment, "--build-id", build],
                 worker_env(settings, QUEUE_ROUTER_QUEUES=json.dumps(QUEUES), **env))  # fmt: skip


async def registered(deployment: Deployment, *builds: str) -> None:
    """Wait until the builds' workers poll (a version exists only once it has pollers)."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if set(builds) <= await deployment.builds():
                return
        except RPCError:  # NOT_FOUND until the first worker polls
            pass
        assert time.monotonic() < deadline, f"builds {builds} never registered"
        await asyncio.sleep(0.3)


async def versioning(handle: WorkflowHandle[Any, Any]) -> tuple[str, VersioningBehavior]:
    info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
    return info.deployment_version.build_id, VersioningBehavior(info.behavior)


async def run_job(
    router: QueueRouter, client: Client, queue: str = "calc"
) -> WorkflowHandle[Any, Any]:
    receipt = await router.enqueue(queue, {"n": 1})
    handle = client.get_workflow_handle(receipt.placements[0].job_id)
    await handle.result()
    return handle


async def test_jobs_follow_the_current_build_while_an_approval_stays_pinned(
    make_router: Callable[..., Any], temporal_client: Client, spawn_worker: Callable[..., Any],
    task_queue: str,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router(queues=QUEUES)
    deployment = Deployment(temporal_client, f"dep-{uuid.uuid4().hex[:8]}")
    start_build(spawn_worker, router.settings, deployment.name, "v1")
    await registered(deployment, "v1")
    await deployment.set_current("v1")

    job = await run_job(router, temporal_client)
    assert await versioning(job) == ("v1", VersioningBehavior.AUTO_UPGRADE)
    pinned_job = await run_job(router, temporal_client, "calc-pinned")  # per-queue override
    assert await versioning(pinned_job) == ("v1", VersioningBehavior.PINNED)
    approval = await temporal_client.start_workflow(
        ApprovalWorkflow.run, ApprovalRequest("r-1", "refund", "alice", escalate_to="bob"),
        id=f"approval-{uuid.uuid4()}", task_queue=task_queue,
    )  # fmt: skip
    await approval.query(ApprovalWorkflow.status)  # its first task ran
    assert await versioning(approval) == ("v1", VersioningBehavior.PINNED)

    start_build(spawn_worker, router.settings, deployment.name, "v2")
    await registered(deployment, "v2")
    await deployment.set_current("v2")
    await approval.signal(ApprovalWorkflow.approve, Decision("mallory", "not mine to decide"))
    status = await approval.query(ApprovalWorkflow.status)
    assert status.state == "pending"  # the signal was handled, by v1
    assert await versioning(approval) == ("v1", VersioningBehavior.PINNED)
    assert await versioning(await run_job(router, temporal_client)) == (
        "v2", VersioningBehavior.AUTO_UPGRADE)  # fmt: skip


def ramp_env(router: QueueRouter) -> dict[str, str]:
    temporal = router.settings.temporal
    return {"REDIS_URL": router.settings.redis.redis_url, "QUEUE_ROUTER_QUEUES": json.dumps(QUEUES),
            "TEMPORAL_CLUSTER_URL": temporal.temporal_cluster_url,
            "TEMPORAL_TASK_QUEUE": temporal.temporal_task_queue}  # fmt: skip


def builds_of_calc(env: dict[str, str]) -> tuple[str, str | None, float]:
    """What ``queue-router status`` says serves the calc queue's task queue."""
    out = run_cli(["status", "--json"], env)
    assert out.returncode == 0, out.stderr
    builds = next(row for row in json.loads(out.stdout) if row["queue"] == "calc")["builds"]
    return builds["current"], builds["ramping"], builds["ramping_percentage"]


async def worker_ramp(env: dict[str, str], *args: str) -> tuple[int, list[dict[str, Any]], str]:
    out = await asyncio.to_thread(run_cli, ["worker-ramp", *args], env, timeout_s=120)
    events = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    return out.returncode, events, out.stderr


async def two_builds(
    make_router: Callable[..., Any], temporal_client: Client, spawn_worker: Callable[..., Any],
    **v2_env: str,
) -> tuple[QueueRouter, Deployment, list[str]]:  # fmt: skip
    router: QueueRouter = await make_router(queues=QUEUES)
    deployment = Deployment(temporal_client, f"dep-{uuid.uuid4().hex[:8]}")
    start_build(spawn_worker, router.settings, deployment.name, "v1")
    start_build(spawn_worker, router.settings, deployment.name, "v2", **v2_env)
    await registered(deployment, "v1", "v2")
    await deployment.set_current("v1")
    return router, deployment, ["--deployment-name", deployment.name, "--build-id", "v2"]


async def test_worker_ramp_walks_a_healthy_build_to_current_and_rolls_back_on_demand(
    make_router: Callable[..., Any], temporal_client: Client, spawn_worker: Callable[..., Any],
    redis_db: redis.Redis,
) -> None:  # fmt: skip
    router, deployment, build = await two_builds(make_router, temporal_client, spawn_worker)
    env = ramp_env(router)
    async with steady_traffic(router, {"n": 1}):  # workflow times include queueing: a busy
        code, events, stderr = await worker_ramp(  # machine (a CI run saw p99 8.3 s) must
            env, *build, *RAMP, "--p99-floor-ms", "60000")  # not trip a healthy build  # fmt: skip
    assert code == 0, (events, stderr)
    assert [e["percentage"] for e in events if e["event"] == "set"] == [50, 100]
    routing = await deployment.routing()
    assert (routing.current, routing.ramping) == ("v2", None)
    assert builds_of_calc(env) == ("v2", None, 0)

    back = run_cli(["worker-ramp", *build, "--rollback", "--json"], env)
    assert back.returncode == 0, back.stderr
    assert json.loads(back.stdout)["current"] == "v1"
    assert (await deployment.routing()).current == "v1"
    audit = json.loads(run_cli(["audit", f"deployment:{deployment.name}", "--json"], env).stdout)
    assert [e["new"]["current"] for e in audit] == ["v1", "v2", "v1"]


async def test_worker_ramp_undoes_the_ramp_of_a_failing_build(
    make_router: Callable[..., Any], temporal_client: Client, spawn_worker: Callable[..., Any],
    redis_db: redis.Redis,
) -> None:  # fmt: skip
    router, deployment, build = await two_builds(make_router, temporal_client, spawn_worker,
                                                 TEST_CALC_FAILS="1")  # fmt: skip
    env = ramp_env(router)
    await deployment.set_ramping("v2", 50)  # an operator started it by hand
    assert builds_of_calc(env) == ("v1", "v2", 50)
    async with steady_traffic(router, {"n": 1}):
        dry, dry_events, stderr = await worker_ramp(env, *build, *RAMP, "--dry-run")
        assert dry == 1, (dry_events, stderr)  # it would undo ...
        routing = await deployment.routing()
        assert (routing.current, routing.ramping, routing.ramping_percentage) == ("v1", "v2", 50)
        code, events, stderr = await worker_ramp(env, *build, *RAMP)
    assert code == 1, (events, stderr)
    undo = [e for e in events if e["event"] == "undo"]
    assert len(undo) == 1 and "error rate: v2 100.00%" in undo[0]["reason"], events
    routing = await deployment.routing()
    assert (routing.current, routing.ramping) == ("v1", None)
