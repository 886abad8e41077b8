"""Secrets never show: not in logs, exception messages, CLI output, settings or receipts."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from queue_router import ConfigError, QueueRouter, QueueRouterError, Settings
from queue_router.testing.devservers import RedisServer, TemporalServer, free_port
from queue_router.wiring import temporal_backend
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

PASSWORD = "redis-Pw-7f3a9c"
WRONG_PASSWORD = "redis-Wrong-1b2c"
API_KEY = "temporal-Key-5d8e2f"
SECRETS = (PASSWORD, WRONG_PASSWORD, API_KEY)


def cli(args: list[str], env: dict[str, str]) -> str:
    out = run_cli(args, env)
    return f"$ queue-router {' '.join(args)} -> {out.returncode}\n{out.stdout}{out.stderr}"


async def test_passwords_and_api_keys_never_show(
    make_settings: Callable[..., Any], temporal_server: TemporalServer,
    caplog: pytest.LogCaptureFixture, task_queue: str,
) -> None:  # fmt: skip
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with RedisServer(password=PASSWORD) as locked:
        settings = make_settings(redis_url=locked.url, temporal_api_key=API_KEY,
                                 temporal_traffic_percentage=50)  # fmt: skip
        seen.append(repr(settings))
        client = await temporal_backend(settings).client()
        assert client.api_key == API_KEY  # it is sent (the dev server ignores it)

        async with QueueRouter(settings) as router:
            for i in range(20):
                seen.append(repr(await router.enqueue("email-send", {"i": i}, key=f"u{i}")))
        down = make_settings(redis_url=locked.url, temporal_api_key=API_KEY,
                             use_temporal_workflows=True, temporal_retry_ms=200,
                             temporal_cluster_url=f"127.0.0.1:{free_port()}")  # fmt: skip
        async with QueueRouter(down) as router:  # Temporal down: fallback reasons are logged
            seen.append(repr(await router.enqueue("email-send", {}, job_id="fb-1")))
        wrong = make_settings(redis_url=locked.url.replace(PASSWORD, WRONG_PASSWORD))
        for call in ("startup", "enqueue"):
            router = QueueRouter(wrong)
            try:
                with pytest.raises(QueueRouterError) as info:
                    await (
                        router.startup() if call == "startup" else router.enqueue("email-send", {})
                    )
                seen.append(f"{info.value!s} {info.value!r} {info.value.__cause__!s}")
            finally:
                await router.aclose()
        with pytest.raises(ConfigError) as bad:
            Settings.from_env(redis_url=locked.url, temporal_api_key=API_KEY,
                              temporal_traffic_percentage=400)  # fmt: skip
        seen.append(str(bad.value))

        env = {"REDIS_URL": locked.url, "TEMPORAL_API_KEY": API_KEY,
               "TEMPORAL_CLUSTER_URL": temporal_server.target, "TEMPORAL_TASK_QUEUE": task_queue}  # fmt: skip
        for args in (["config"], ["config", "--json"], ["route", "email-send", "u1"],
                     ["stats", "--json"], ["health"], ["check-stuck", "--json"]):  # fmt: skip
            seen.append(await asyncio.to_thread(cli, args, env))
        seen.append(
            await asyncio.to_thread(cli, ["stats"], {**env, "REDIS_URL": wrong.redis.redis_url})
        )
        seen.append(await asyncio.to_thread(cli, ["config"], {**env, "TEMPORAL_ROLLOUT": "x"}))
    seen.append(caplog.text)
    everything = "\n".join(seen)
    assert "fell back" in caplog.text and "REDIS_URL=redis://:***@" in everything  # it ran
    for secret in SECRETS:
        assert secret not in everything, f"{secret} leaked:\n" + "\n".join(
            line for line in everything.splitlines() if secret in line
        )
