"""The Node examples run as a user runs them: ``npm ci`` in their own folder, then node.

The producer is the legacy app (plain Bull ``add``); the worker honours the claim
protocol. A job the router writes is processed by the same worker as the producer's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import redis

from queue_router import QueueRouter
from queue_router.processors.effects import effect_key
from tests.conftest import REPO

EXAMPLES = REPO / "examples" / "node"


def in_examples(*command: str) -> str:
    """Run a command in examples/node with only PATH set (no NODE_PATH to lean on)."""
    node = shutil.which("node")
    assert node, "node is required for the Node examples"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    done = subprocess.run(list(command), cwd=EXAMPLES, capture_output=True, text=True,
                          timeout=180, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_the_node_examples_run_from_their_own_folder(
    make_router: Callable[..., Any], redis_db: redis.Redis,
) -> None:  # fmt: skip
    router: QueueRouter = await make_router()  # percentage 0: every job to Bull
    url = router.settings.redis.redis_url
    in_examples("npm", "ci", "--no-audit", "--no-fund", "--loglevel=error")
    produced = [json.loads(line) for line in in_examples("node", "producer.js", url).splitlines()]
    assert [p["id"] for p in produced] == ["node-1", "node-2", "node-3"]
    await router.enqueue("email-send", {"to": "py@example.com"}, job_id="py-1")
    out = in_examples("node", "worker.js", url, "bull", "email-send", "4")
    processed = {line["id"]: line["outcome"] for line in map(json.loads, out.splitlines())}
    assert processed == {"node-1": "performed", "node-2": "performed", "node-3": "performed",
                         "py-1": "performed"}  # fmt: skip
    for job_id in processed:
        record = json.loads(str(redis_db.get(effect_key("email-send", job_id, "send"))))
        assert record["state"] == "done"
