"""Run the Node scripts of the interop tests (real ``bull`` from tests/node_modules)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).parents[1]


async def run_node(script: Path, *args: str, within_s: float = 60) -> str:
    node = shutil.which("node")
    assert node, "node is required for the Bull interop tests"
    assert (TESTS / "node_modules" / "bull").is_dir(), "run `npm ci` in tests/ (make test does)"
    out = await asyncio.to_thread(
        subprocess.run, [node, str(script), *args], capture_output=True, text=True,
        timeout=within_s, cwd=TESTS, env={"NODE_PATH": str(TESTS / "node_modules"),
                                         "PATH": str(Path(node).parent)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


@contextlib.contextmanager
def node_process(script: Path, *args: str) -> Iterator[subprocess.Popen[str]]:
    """A Node script running beside the test (a Bull worker); stopped when the block ends."""
    node = shutil.which("node")
    assert node, "node is required for the Bull interop tests"
    assert (TESTS / "node_modules" / "bull").is_dir(), "run `npm ci` in tests/ (make test does)"
    process = subprocess.Popen(
        [node, str(script), *args], cwd=TESTS, text=True, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env={"NODE_PATH": str(TESTS / "node_modules"),
                                     "PATH": str(Path(node).parent)},
    )  # fmt: skip
    try:
        yield process
    finally:
        process.terminate()
        process.communicate(timeout=10)
