"""``queue-router worker`` as operators run it: a subprocess, stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from queue_router import QueueRouter, Settings
from queue_router.processors import Registry
from queue_router.testing.devservers import connect_temporal, free_port
from tests.conftest import worker_env
from tests.worker_processors import slow
from workflows import JobEnvelope, JobResult

pytestmark = pytest.mark.integration


async def wait_for(check: Callable[[], bool], what: str, within_s: float = 30) -> None:
    for _ in range(int(within_s * 10)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def pollers(client: Client, task_queue: str) -> list[Any]:
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace="default", task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    ))  # fmt: skip
    return list(response.pollers)


async def test_sigterm_lets_the_running_activity_finish_then_exits_0(
    make_settings: Callable[..., Settings], spawn_worker: Callable[..., subprocess.Popen[bytes]],
    start_worker: Callable[..., Any], temporal_client: Client, task_queue: str, tmp_path: Path,
) -> None:  # fmt: skip
    env = worker_env(make_settings(), QUEUE_ROUTER_WORKER_SHUTDOWN_GRACE_MS="20000")
    worker = spawn_worker(["worker", "--build-id", "build-7"], env)
    log = tmp_path / "slow.log"
    handle = await temporal_client.start_workflow(
        "documentGeneration", JobEnvelope("slow", "s-1", "slow", {"file": str(log), "seconds": 2}),
        id=f"slow-{uuid.uuid4()}", task_queue=task_queue, result_type=JobResult,
    )  # fmt: skip
    await wait_for(lambda: log.exists(), "the activity to start")
    [poller] = await pollers(temporal_client, task_queue)
    assert poller.worker_version_capabilities.build_id == "build-7"
    worker.send_signal(signal.SIGTERM)
    output, _ = await asyncio.to_thread(worker.communicate, timeout=30)
    assert worker.returncode == 0, output.decode()
    assert log.read_text() == "start 1\nend 1\n"  # finished, not cut off
    assert b"worker stopped" in output
    # The workflow finishes on a new worker without running the activity again.
    registry = Registry()
    registry.add("slow", slow)
    await start_worker(registry)
    result = await handle.result()
    assert (result.result, result.attempt) == ("finished", 1)
    assert log.read_text() == "start 1\nend 1\n"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TEMPORAL_CLUSTER_URL": "127.0.0.1:{port}"}, "cannot reach Temporal at 127.0.0.1:"),
        ({"QUEUE_ROUTER_PROCESSORS": "no_such.module"}, "cannot import processor module 'no_such.module'"),
        ({"TEMPORAL_MAX_CONCURRENT_ACTIVITIES": "0"}, "TEMPORAL_MAX_CONCURRENT_ACTIVITIES='0'"),
    ],
)  # fmt: skip
async def test_worker_refuses_to_start_with_a_clear_error(
    env: dict[str, str], message: str, make_settings: Callable[..., Settings],
    spawn_worker: Callable[..., subprocess.Popen[bytes]],
) -> None:  # fmt: skip
    extra = {k: v.format(port=free_port()) for k, v in env.items()}
    worker = spawn_worker(["worker"], worker_env(make_settings(), **extra))
    output, _ = await asyncio.to_thread(worker.communicate, timeout=60)
    assert worker.returncode == 2, output.decode()
    assert message in output.decode()
    assert "Traceback" not in output.decode()


def readme_queues() -> dict[str, Any]:
    """The ``QUEUE_ROUTER_QUEUES`` example exactly as the README shows it."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    found = re.search(r"QUEUE_ROUTER_QUEUES='(\{.*?\})'", readme, re.DOTALL)
    assert found, "the README lost its QUEUE_ROUTER_QUEUES example"
    queues: dict[str, Any] = json.loads(found.group(1))
    return queues


async def test_the_readme_custom_queue_runs_on_the_stock_worker(
    make_settings: Callable[..., Settings], make_router: Callable[..., Any],
    spawn_worker: Callable[..., subprocess.Popen[bytes]], temporal_client: Client,
    redis_db: Any,
) -> None:  # fmt: skip
    queues = readme_queues()
    assert queues["invoice-render"]["workflow_type"] == "invoiceRender"
    settings = make_settings(queues=queues)
    env = worker_env(settings, QUEUE_ROUTER_QUEUES=json.dumps(queues))
    worker = spawn_worker(["worker"], env)
    router = await make_router(queues=queues, use_temporal_workflows=True)
    receipt = await router.enqueue("invoice-render", {"order": 77}, job_id="inv-77")
    assert receipt.backends == ("temporal",)
    handle = temporal_client.get_workflow_handle(
        receipt.placements[0].job_id, result_type=JobResult
    )
    result = await asyncio.wait_for(handle.result(), 60)
    assert result.result == {"invoice": "INV-77", "runtime": "temporal"}
    assert (await handle.describe()).workflow_type == "invoiceRender"
    assert redis_db.lrange("test:runs:invoice-render:inv-77", 0, -1) == ["temporal:1:run"]
    assert worker.poll() is None, "the worker died"


async def test_the_worker_imports_processors_from_its_current_folder(
    make_settings: Callable[..., Settings], make_router: Callable[..., Any],
    spawn_worker: Callable[..., subprocess.Popen[bytes]], temporal_client: Client, tmp_path: Path,
) -> None:  # fmt: skip
    app = tmp_path / "myapp"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "jobs.py").write_text(
        "from queue_router import JobContext, processor\n\n\n"
        "@processor('invoice-render')\n"
        "async def render(job: JobContext) -> str:\n"
        "    return f\"rendered {job.data['n']}\"\n"
    )
    queues = {"invoice-render": {"workflow_type": "invoiceRender"}}
    env = {k: v for k, v in worker_env(make_settings()).items() if k != "PYTHONPATH"}
    env.update(QUEUE_ROUTER_PROCESSORS="myapp.jobs", QUEUE_ROUTER_QUEUES=json.dumps(queues))
    worker = spawn_worker(["worker"], env, cwd=tmp_path)  # no PYTHONPATH: the folder is the app
    router: QueueRouter = await make_router(use_temporal_workflows=True, queues=queues)
    receipt = await router.enqueue("invoice-render", {"n": 5}, job_id="cwd-1")
    handle = temporal_client.get_workflow_handle(
        receipt.placements[0].job_id, result_type=JobResult
    )
    assert (await asyncio.wait_for(handle.result(), 60)).result == "rendered 5"
    assert worker.poll() is None

    env["QUEUE_ROUTER_PROCESSORS"] = "myap.jobs"
    failed = spawn_worker(["worker"], env, cwd=tmp_path)
    output, _ = await asyncio.to_thread(failed.communicate, timeout=60)
    assert failed.returncode == 2, output.decode()
    folder = await asyncio.to_thread(os.path.realpath, tmp_path)
    assert f"looked in {folder}" in output.decode()
    assert "Traceback" not in output.decode()


async def test_the_sdk_core_logs_through_python_logging_when_temporal_goes_away(
    make_settings: Callable[..., Settings], own_temporal: Any, spawn_worker: Callable[..., Any],
) -> None:  # fmt: skip
    settings = make_settings(temporal_cluster_url=own_temporal.target)
    worker = spawn_worker(["worker"], worker_env(settings))
    client = await connect_temporal(own_temporal.target)  # its port opens before it answers
    for _ in range(300):
        if await pollers(client, settings.temporal.temporal_task_queue):
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"the worker never polled: {worker.poll()=}")
    own_temporal.kill()
    await asyncio.sleep(8)  # the worker's polls fail and the core retries, and says so
    worker.send_signal(signal.SIGTERM)
    output = (await asyncio.to_thread(worker.communicate, timeout=60))[0].decode()
    core = [line for line in output.splitlines() if " temporalio.core" in line]
    assert core, output[-2000:]  # the core's warnings came through a Python logger
    assert "\x1b[" not in output  # and nothing wrote raw ANSI-coloured lines
