"""Imports go one way: each top-level package imports alone in a fresh interpreter."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("package", ["queue_router", "backends", "workflows", "activities"])
def test_package_imports_alone(package: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", f"import {package}"], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr


def test_workflows_import_nothing_of_the_router() -> None:
    """The workflow sandbox re-imports ``workflows``: it must not pull in the router."""
    script = "import sys, workflows; print(sorted(m for m in sys.modules if m.startswith('queue_router')))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


LEAVES = {
    "queue_router.contract", "queue_router.errors", "queue_router.receipts",
    "queue_router.frozen", "queue_router.routing", "queue_router.payload",
    "queue_router.connections.redis_client", "queue_router.connections.one_connection",
    "queue_router.connections.diagnose", "queue_router.connections.redact",
    "queue_router.telemetry.sdk_logs", "queue_router.testing.memory",
}  # fmt: skip
"""The modules of ``queue_router`` a backend may import (README, "Layout")."""


def _imported(path: Path) -> set[str]:
    """The ``queue_router`` modules ``path`` imports (a name imported from a package
    counts as its module when there is one)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {
        name for name in names
        if name.startswith("queue_router.") and _module_file(name).is_file()
    }  # fmt: skip


def _module_file(name: str) -> Path:
    return ROOT.joinpath(*name.split(".")).with_suffix(".py")


def test_backends_import_only_the_leaves() -> None:
    """No backend reaches the router; the leaves import only leaves (packages' own
    ``__init__`` aside), so the set can't quietly grow a path to it."""
    used = set().union(*(_imported(path) for path in (ROOT / "backends").glob("*.py")))
    assert used <= LEAVES, f"backends import {sorted(used - LEAVES)}, not leaves"
    for leaf in sorted(LEAVES):
        assert _module_file(leaf).is_file(), leaf
        outside = _imported(_module_file(leaf)) - LEAVES
        assert not outside, f"{leaf} imports {sorted(outside)}, not leaves"
