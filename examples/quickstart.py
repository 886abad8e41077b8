"""Quickstart: route a few jobs with the settings in the environment.

Run it against real servers, e.g.:
    REDIS_URL=redis://localhost:6379/0 TEMPORAL_CLUSTER_URL=localhost:7233 \
    TEMPORAL_TRAFFIC_PERCENTAGE=25 python examples/quickstart.py
"""

from __future__ import annotations

import asyncio

from queue_router import EnqueueOutcomeUnknown, JobOptions, NotEnqueuedError, QueueRouter


async def main() -> None:
    async with QueueRouter.from_env() as router:
        for user in ("user-1", "user-42", "user-7"):
            try:
                receipt = await router.enqueue(
                    "email-send",
                    {"to": f"{user}@example.com", "template": "welcome"},
                    key=user,  # same user, same path, on every machine
                    job_id=f"welcome-{user}",  # enqueue it again: still one job
                    options=JobOptions(attempts=3),
                )
            except NotEnqueuedError as exc:
                print(f"{user}: not enqueued anywhere ({exc}); safe to retry or give up")
                continue
            except EnqueueOutcomeUnknown as exc:
                print(f"{user}: outcome unknown ({exc}); retry with the same job_id")
                continue
            where = ", ".join(f"{p.backend}:{p.job_id}" for p in receipt.placements)
            note = f" (fell back: {receipt.fallback_reason})" if receipt.fell_back else ""
            print(f"{user}: bucket {receipt.bucket} -> {where}{note}")


if __name__ == "__main__":
    asyncio.run(main())
