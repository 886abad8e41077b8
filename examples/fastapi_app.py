"""A FastAPI app whose lifespan opens the router, serving queue-router's metrics at /metrics.

Run it against real servers, e.g.:
    REDIS_URL=redis://localhost:6379/0 TEMPORAL_CLUSTER_URL=localhost:7233 \
    uvicorn examples.fastapi_app:app
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from prometheus_client import make_asgi_app

from queue_router import QueueRouter


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    async with QueueRouter.from_env() as router:  # one router per process, closed at shutdown
        app.state.router = router
        yield


app = FastAPI(lifespan=lifespan)
app.mount("/metrics", make_asgi_app())  # queue_router_* live in the default registry


@app.post("/signup/{user_id}")
async def signup(user_id: str, email: str, request: Request) -> dict[str, object]:
    router: QueueRouter = request.app.state.router
    receipt = await router.enqueue(
        "email-send-welcome", {"to": email}, key=user_id, job_id=f"welcome-{user_id}"
    )
    return {"job_id": receipt.job_id, "backends": list(receipt.backends)}
