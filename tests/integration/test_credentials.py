"""Rejected Redis credentials: nothing written, a configuration error naming REDIS_URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis

from queue_router import (
    ConfigError,
    CredentialsRejected,
    EnqueueOutcomeUnknown,
    NotEnqueuedError,
    QueueRouter,
)
from queue_router.testing.devservers import RedisServer

pytestmark = pytest.mark.integration

PASSWORD = "right-horse-battery"


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[RedisServer]:
    with RedisServer(password=PASSWORD) as server:
        yield server


def bad_urls(server: RedisServer) -> dict[str, str]:
    return {
        "wrong password": f"redis://:wrong-staple@127.0.0.1:{server.port}/0",
        "no password": f"redis://127.0.0.1:{server.port}/0",
    }


@pytest.mark.parametrize("legacy", ["bull", "rq"])
@pytest.mark.parametrize("case", ["wrong password", "no password"])
async def test_rejected_credentials_fail_startup_and_enqueue_clearly(
    locked_redis: RedisServer, make_settings: Callable[..., Any], legacy: str, case: str
) -> None:
    url = bad_urls(locked_redis)[case]
    settings = make_settings(redis_url=url, queues={"email-send": {"mode": legacy}})

    router = QueueRouter(settings)
    with pytest.raises(CredentialsRejected) as at_startup:
        await router.startup()
    message = str(at_startup.value)
    assert "REDIS_URL=redis://" in message and "refused our credentials" in message
    assert "wrong-staple" not in message and PASSWORD not in message
    assert isinstance(at_startup.value, ConfigError)

    unstarted = QueueRouter(settings)  # an app that never called startup() finds out per job
    try:
        with pytest.raises(CredentialsRejected) as at_enqueue:
            await unstarted.enqueue("email-send", {"n": 1}, job_id="pw-1")
    finally:
        await unstarted.aclose()
    assert isinstance(at_enqueue.value, NotEnqueuedError)
    assert not isinstance(at_enqueue.value, EnqueueOutcomeUnknown)
    assert "wrong-staple" not in str(at_enqueue.value)

    with redis.Redis.from_url(locked_redis.url) as admin:
        assert admin.dbsize() == 0, "something was written"
