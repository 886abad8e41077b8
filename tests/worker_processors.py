"""Processors that worker subprocesses in the tests import (QUEUE_ROUTER_PROCESSORS).

Each records what happened in Redis (or a file), because the test cannot see into the
worker process.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis

from queue_router.errors import PermanentJobError
from queue_router.processors import JobContext, processor


def _record(job: JobContext, what: str) -> None:
    with redis.Redis.from_url(job.settings.redis.redis_url) as client:
        client.rpush(f"test:runs:{job.queue}:{job.job_id}", f"{job.runtime}:{job.attempt}:{what}")


@processor("flaky")
async def flaky(job: JobContext) -> int:
    """Fails on its first two attempts."""
    _record(job, "run")
    if job.attempt <= 2:
        raise RuntimeError(f"transient failure on attempt {job.attempt}")
    return job.attempt


@processor("hopeless")
async def hopeless(job: JobContext) -> None:
    _record(job, "run")
    raise PermanentJobError(f"job {job.job_id} can never succeed")


@processor("slow")
async def slow(job: JobContext) -> str:
    """Appends start/end lines to ``data["file"]``: shows whether a shutdown let it finish."""
    log = Path(job.data["file"])
    await asyncio.to_thread(_append, log, f"start {job.attempt}\n")
    await asyncio.sleep(float(job.data["seconds"]))
    await asyncio.to_thread(_append, log, f"end {job.attempt}\n")
    return "finished"


def _append(path: Path, line: str) -> None:
    with path.open("a") as out:
        out.write(line)


@processor("invoice-render")
async def render_invoice(job: JobContext) -> dict[str, str]:
    """The README's custom queue: not in the catalogue, its own workflow type."""
    _record(job, "run")
    return {"invoice": f"INV-{job.data['order']}", "runtime": job.runtime}


@processor("calc", "calc-pinned")
async def calc(job: JobContext) -> dict[str, Any]:
    """The Python twin of tests/interop/bull_calc_worker.js; the data's flags make it
    differ under Temporal only, as a migration bug would:

    - ``temporal_factor``: the total is ``n * factor`` instead of ``n * 2``;
    - ``temporal_skips_send``: does not send although ``send`` is set;
    - ``temporal_fails``: fails for good; ``temporal_sleep_s``: sleeps that long first.

    A worker process started with ``TEST_CALC_FAILS=1`` is a broken build: it fails them all.
    """
    data, temporal = job.data, job.runtime == "temporal"
    if temporal and os.environ.get("TEST_CALC_FAILS") == "1":
        raise PermanentJobError("calc is broken in this worker build")
    if temporal and data.get("temporal_sleep_s"):
        await asyncio.sleep(float(data["temporal_sleep_s"]))
    if temporal and data.get("temporal_fails"):
        raise PermanentJobError("calc is broken under Temporal")
    if data.get("send") and not (temporal and data.get("temporal_skips_send")):
        await job.effect("send", f"send to {data.get('to')}", _sent(data.get("to")))
    factor = int(data.get("temporal_factor", 2)) if temporal else 2
    return {"total": int(data["n"]) * factor, "generated_at": time.time()}


def _sent(to: Any) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def send() -> dict[str, Any]:
        return {"to": to}

    return send
