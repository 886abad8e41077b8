"""The one way a command declares itself: name, help, a tested example, ``--json``."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = ["command"]


def command(
    sub: Any,
    name: str,
    func: Callable[[argparse.Namespace], int],
    help_: str,
    example: str,
    *,
    json: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with ``example:`` (a test checks every one)."""
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, epilog=f"example: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    if json:
        parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=func)
    return parser
