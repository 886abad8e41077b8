"""Run the Node scripts of the interop tests (real ``bull`` from tests/node_modules)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
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
