"""What a user installs: the built wheel holds every module and data file of the source.

The test suite runs on an editable install, which reads the source folders as they are:
a package left out of the wheel passes every other test and fails every user at
``import queue_router``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("queue_router", "backends", "workflows", "activities")
_NOT_SOURCE = shutil.ignore_patterns(
    ".*", "node_modules", "build", "dist", "*.egg-info", "__pycache__", "tests", "benchmarks"
)


def _shipped(root: Path) -> set[str]:
    """The files of ``PACKAGES`` a wheel must hold, as paths inside it."""
    return {
        path.relative_to(root).as_posix()
        for package in PACKAGES
        for path in (root / package).rglob("*")
        if path.suffix in {".py", ".lua"} or path.name == "py.typed"
        if "__pycache__" not in path.parts
    }


def test_the_wheel_holds_every_module_and_data_file(tmp_path: Path) -> None:
    source = tmp_path / "source"  # a copy: the build writes build/ and *.egg-info in place
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCE)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "dist").glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        missing = _shipped(source) - set(archive.namelist())
        archive.extractall(tmp_path / "installed")
    assert not missing, f"left out of the wheel: {sorted(missing)}"

    # Imported from the wheel's files alone, not from the source folders.
    script = "import queue_router, backends, workflows, activities; print(queue_router.__file__)"
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "installed"), "PATH": ""},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(tmp_path / "installed")), out.stdout
