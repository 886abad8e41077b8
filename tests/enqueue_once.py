"""``python -m tests.enqueue_once QUEUE JOB_ID``: one enqueue from a separate process.

Configured by env vars like any app; prints one JSON line: the outcome (``ok``,
``failed`` or ``unknown``), the backends holding the job, and the receipt's or error's words.
"""

from __future__ import annotations

import asyncio
import json
import sys

from queue_router import EnqueueOutcomeUnknown, NotEnqueuedError, QueueRouter


async def main(queue: str, job_id: str) -> dict[str, object]:
    async with QueueRouter.from_env() as router:
        try:
            receipt = await router.enqueue(queue, {"from": "another process"}, job_id=job_id)
        except EnqueueOutcomeUnknown as exc:
            return {"outcome": "unknown", "error": str(exc)}
        except NotEnqueuedError as exc:
            return {"outcome": "failed", "error": str(exc)}
        placement = receipt.placements[0]
        return {
            "outcome": "ok",
            "backends": list(receipt.backends),
            "existing": placement.existing,
            "fell_back": receipt.fell_back,
            "detail": placement.detail,
        }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2])), default=str))
