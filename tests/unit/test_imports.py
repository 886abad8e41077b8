"""Imports go one way: each top-level package imports alone in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

import pytest


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
