"""The examples in examples/ run as written against the session's real servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from queue_router import bucket
from queue_router.testing.devservers import RedisServer, TemporalServer

pytestmark = pytest.mark.integration
EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize("example", ["quickstart.py", "sync_flask_style.py"])
def test_example_runs(
    example: str, redis_server: RedisServer, temporal_server: TemporalServer, redis_db: redis.Redis
) -> None:
    env = {
        **os.environ,
        "REDIS_URL": redis_server.url,
        "TEMPORAL_CLUSTER_URL": temporal_server.target,
        "TEMPORAL_TRAFFIC_PERCENTAGE": "25",
        "TEMPORAL_TASK_QUEUE": "examples",
    }
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / example)], env=env, capture_output=True, text=True,
        timeout=60, check=True,
    )  # fmt: skip
    if example == "quickstart.py":
        assert "user-42: bucket 2080 -> temporal:email-send/welcome-user-42" in out.stdout
        for user in ("user-1", "user-7", "user-42"):  # each where its bucket says, and only there
            to_bull = bucket(user) >= 2500
            assert redis_db.exists(f"bull:email-send:welcome-{user}") == to_bull, user
            where = "bull:welcome-" if to_bull else "temporal:email-send/welcome-"
            assert f"{user}: bucket {bucket(user)} -> {where}{user}" in out.stdout
    else:
        assert out.stdout.startswith("queued on ")


def test_demo_prints_where_jobs_went(
    redis_server: RedisServer, temporal_server: TemporalServer, redis_db: redis.Redis,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    from queue_router.testing.demo import main

    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("TEMPORAL_CLUSTER_URL", temporal_server.target)
    main(["--jobs", "300", "--percentage", "40"])
    out = capsys.readouterr().out
    assert "300 jobs at TEMPORAL_TRAFFIC_PERCENTAGE=40" in out
    assert "receipts and servers agree" in out
    total = next(line for line in out.splitlines() if line.startswith("total")).split()
    assert total[1] == "300" and int(total[2]) + int(total[3]) == 300
