"""What Temporal lists on a task queue, once it has caught up: its list (visibility) lags
a little behind the starts, so a list taken right after them may miss the newest."""

from __future__ import annotations

import asyncio

from temporalio.client import Client


async def listed(client: Client, task_queue: str, at_least: int) -> list[str]:
    """The workflow ids (one per run) listed on ``task_queue`` once ``at_least`` are, or
    after 20 s, whichever comes first; the caller asserts on what it got."""
    found: list[str] = []
    for _ in range(100):
        found = [e.id async for e in client.list_workflows(f"TaskQueue = '{task_queue}'")]
        if len(found) >= at_least:
            break
        await asyncio.sleep(0.2)
    return found
