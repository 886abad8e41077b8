"""Every operator command, with its servers down, ends in at most two lines naming the variable.

No traceback, a non-zero exit, the variable to fix and the address, never the password.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from queue_router.testing.devservers import RedisServer, free_port
from tests.conftest import run_cli

pytestmark = pytest.mark.integration

SECRET = "pw-Xy7"
COMMANDS = [
    ["stats"], ["health"], ["check-stuck"], ["validate"], ["migrate", "--queue", "email-send"],
    ["rollback", "--queue", "email-send"], ["status"], ["audit", "email-send"],
    ["set", "email-send", "--percentage", "5"], ["backup", "--queue", "email-send", "--out", "x"],
]  # fmt: skip


# The variable each command names first: it connects to that server before the other.
NAMES = {"health": "TEMPORAL_CLUSTER_URL",
         "check-stuck": "TEMPORAL_CLUSTER_URL", "validate": "TEMPORAL_CLUSTER_URL"}  # fmt: skip
REDIS = "REDIS_URL=redis://:***@127.0.0.1:"


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
def test_redis_and_temporal_down(args: list[str], tmp_path: Path) -> None:
    env = {"REDIS_URL": f"redis://:{SECRET}@127.0.0.1:{free_port()}/0",
           "TEMPORAL_CLUSTER_URL": f"127.0.0.1:{free_port()}", "QUEUE_ROUTER_TEMPORAL_RETRY_MS": "200"}  # fmt: skip
    out = run_cli(args, env, cwd=tmp_path)
    said = out.stdout if args == ["health"] else out.stderr  # health's report is its output
    assert out.returncode != 0, (args, out.stdout, out.stderr)
    if args != ["health"]:
        assert 1 <= len(said.strip().splitlines()) <= 2, said
    assert "Traceback" not in out.stderr and SECRET not in out.stderr + out.stdout
    assert NAMES.get(args[0], REDIS) in said, said


@pytest.mark.parametrize(
    "args",
    [a for a in COMMANDS if a[0] in ("check-stuck", "validate")],
    ids=lambda a: a[0],
)
def test_temporal_down(args: list[str], redis_server: RedisServer, tmp_path: Path) -> None:
    env = {"REDIS_URL": redis_server.url, "TEMPORAL_CLUSTER_URL": f"127.0.0.1:{free_port()}",
           "QUEUE_ROUTER_TEMPORAL_RETRY_MS": "200"}  # fmt: skip
    out = run_cli(args, env, cwd=tmp_path)
    lines = out.stderr.strip().splitlines()
    assert out.returncode != 0 and 1 <= len(lines) <= 2, (args, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    assert "TEMPORAL_CLUSTER_URL" in out.stderr and "connection refused" in out.stderr


def test_stats_with_temporal_down_still_shows_the_redis_side(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    env = {"REDIS_URL": redis_server.url, "TEMPORAL_CLUSTER_URL": f"127.0.0.1:{free_port()}"}
    out = run_cli(["stats", "--json"], env, cwd=tmp_path)
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 1 and 1 <= len(lines) <= 2, (out.stdout, out.stderr)
    assert "TEMPORAL_CLUSTER_URL" in out.stderr and "Traceback" not in out.stderr
    rows = {row["queue"]: row for row in json.loads(out.stdout)}
    assert rows["email-send"]["legacy_counts"]["waiting"] == 0
    assert rows["email-send"]["temporal"] is None
