"""A queue's workflow id template: the router and another service that starts the same
workflows (a Go ingest starting ``trace-<id>``) agree on the id, so a job runs once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import Client

from queue_router import ConfigError, QueueRouter, Settings
from tests.visibility import listed
from workflows import JobEnvelope

QUEUES = {"trace-ingest": {"mode": "temporal", "workflow_type": "traceIngest",
                           "workflow_id": "trace-{job_id}"}}  # fmt: skip


async def test_a_job_started_by_another_producer_first_runs_once(
    make_router: Callable[..., Any], temporal_client: Client, task_queue: str,
) -> None:  # fmt: skip
    await temporal_client.start_workflow(  # the other service, first
        "traceIngest", JobEnvelope("trace-ingest", "t42", "__default__", {"span": 1}),
        id="trace-t42", task_queue=task_queue,
    )  # fmt: skip
    router: QueueRouter = await make_router(queues=QUEUES)
    receipt = await router.enqueue("trace-ingest", {"span": 1}, job_id="t42")
    [placement] = receipt.placements
    assert (placement.job_id, placement.existing) == ("trace-t42", True)
    fresh = await router.enqueue("trace-ingest", {"span": 2}, job_id="t43")
    assert fresh.placements[0].job_id == "trace-t43" and not fresh.placements[0].existing
    found = await listed(temporal_client, task_queue, at_least=2)
    assert sorted(found) == ["trace-t42", "trace-t43"]


@pytest.mark.parametrize("template", ["trace-{user}", "trace", "a/{job_id}", "{job_id"])
def test_a_bad_template_names_the_field(template: str) -> None:
    with pytest.raises(ConfigError, match="workflow_id"):
        Settings.from_env(queues={"q": {"workflow_type": "x", "workflow_id": template}})


@pytest.mark.parametrize(
    "template", ["{queue}/{job_id}", "trace-{job_id}", "{job_id}.{queue}.v2", "{job_id}-{job_id}"]
)
def test_a_queue_makes_the_id_its_template_says(template: str) -> None:
    """Made from the template's halves around ``{job_id}`` (``str.format`` when there are
    two ``{job_id}``), the id is the template's, whatever the job id holds."""
    settings = Settings.from_env(queues={"q-1": {"workflow_type": "x", "workflow_id": template}})
    config = settings.queue("q-1")
    for job_id in ("t42", "{queue}", "a-b_c"):
        assert config.workflow_id(job_id) == template.format(queue="q-1", job_id=job_id)
