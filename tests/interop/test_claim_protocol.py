"""A Node Bull processor honours the same side-effect claims as our Python processors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import redis

from queue_router.processors import EffectClaims, effect_key
from queue_router.testing.devservers import RedisServer
from tests.interop.node import TESTS, run_node

pytestmark = [pytest.mark.integration, pytest.mark.interop]

EXAMPLE = TESTS.parent / "examples" / "node" / "worker.js"


async def test_node_and_python_perform_each_effect_once_whoever_runs_first(
    make_router: Callable[..., Any], redis_server: RedisServer, redis_db: redis.Redis
) -> None:
    claims = EffectClaims.from_url(redis_server.url)

    async def python_send() -> dict[str, str]:
        return {"message_id": "<py-first@python>"}

    # py-first: Python performed the effect before the Bull job ran.
    assert (await claims.run_once(effect_key("email-send", "py-first", "send"), python_send))[0]
    router = await make_router(queues={"email-send": {"mode": "bull"}})
    for job_id in ("py-first", "node-first"):
        await router.enqueue("email-send", {"to": f"{job_id}@example.com"}, job_id=job_id)

    out = await run_node(EXAMPLE, redis_server.url, "bull", "email-send", "2")
    by_id = {r["id"]: r for r in map(json.loads, out.splitlines())}
    assert by_id["py-first"] == {"id": "py-first", "outcome": "replayed",
                                 "result": {"message_id": "<py-first@python>"}}  # fmt: skip
    assert by_id["node-first"]["outcome"] == "performed"

    # node-first: Python comes second and gets Node's recorded result.
    performed, result = await claims.run_once(
        effect_key("email-send", "node-first", "send"), python_send
    )
    assert not performed and result == by_id["node-first"]["result"]
    await claims.aclose()
