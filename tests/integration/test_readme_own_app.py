"""The README's "Your own app" steps, run as written: ``queue-router dev``, the app, the
Temporal worker and the Node worker, each a process of its own with only the exports
``dev`` printed. Then Ctrl-C stops ``dev`` with exit 0 and leaves no server behind.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from queue_router.testing.devservers import connect_temporal
from tests.conftest import REPO

STEP = re.compile(r"```(sh|python)\n(.*?)```", re.S)


def readme_steps() -> tuple[list[str], dict[str, str]]:
    """The section's shell blocks in order, and its files (a block after "Save as `x`")."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Your own app\n", 1)[1].split("\n## ", 1)[0]
    shell, files = [], {}
    for match in STEP.finditer(section):
        kind, body = match.groups()
        if kind == "sh":
            shell.append(body.strip())
        else:
            before = section[: match.start()].rsplit("`", 2)
            files[before[-2]] = body
    return shell, files


def terminal(command: str, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """One of the README's terminals: bash in the app folder, the venv activated."""
    return subprocess.Popen(["bash", "-c", command], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def leftovers(marker: str) -> str:
    return subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True).stdout


async def test_the_readme_own_app_steps_run_as_written(tmp_path: Path) -> None:
    shell, files = readme_steps()
    assert len(shell) == 4 and set(files) == {"myapp/jobs.py", "myapp/enqueue.py"}, shell
    app = tmp_path / "clone"
    app.mkdir()
    (app / "examples").symlink_to(REPO / "examples")  # the clone's examples folder
    for name, body in files.items():
        (app / name).parent.mkdir(exist_ok=True)
        (app / name).write_text(body)
    venv = Path(sys.executable).parent
    ours = ("TEMPORAL_", "QUEUE_ROUTER_", "REDIS_", "BULL_", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env["PATH"] = f"{venv}:{env['PATH']}"

    dev = terminal(shell[0], app, env)
    try:
        assert dev.stdout is not None
        exports = [dev.stdout.readline().strip() for _ in range(2)]
        assert [e.split("=", 1)[0] for e in exports] == ["export REDIS_URL",
                                                         "export TEMPORAL_CLUSTER_URL"]  # fmt: skip
        for line in exports:
            name, value = line.removeprefix("export ").split("=", 1)
            env[name] = value
        placed = await asyncio.to_thread(subprocess.run, ["bash", "-c", shell[1]], cwd=app,
                                         env=env, text=True, capture_output=True, timeout=120)  # fmt: skip
        assert placed.returncode == 0, placed.stdout + placed.stderr
        where = dict(line.split(" -> ") for line in placed.stdout.splitlines())
        assert len(where) == 10 and set(where.values()) == {"temporal", "bull"}, where

        worker = terminal(shell[2], app, env)
        node = terminal(shell[3], app, env)
        client = await connect_temporal(env["TEMPORAL_CLUSTER_URL"])
        for job_id in (j for j, backend in where.items() if backend == "temporal"):
            handle = client.get_workflow_handle(f"invoice-render/{job_id}")
            result = await asyncio.wait_for(handle.result(), 60)
            assert result["result"]["invoice"].startswith("INV-")
        bull_jobs = {j for j, backend in where.items() if backend == "bull"}
        seen = ""
        deadline = time.monotonic() + 120  # npm ci, then the jobs
        assert node.stdout is not None
        while not all(f'"id":"{j}"' in seen for j in bull_jobs):
            assert time.monotonic() < deadline and node.poll() is None, seen
            seen += node.stdout.readline()
        for process in (worker, node):
            os.killpg(process.pid, signal.SIGTERM)
            process.communicate(timeout=60)
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        out, _ = dev.communicate(timeout=60)
    assert dev.returncode == 0, out
    assert not leftovers(str(app / ".dev-data")), "a server outlived queue-router dev"
