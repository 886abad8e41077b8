"""Output for people: ``rich`` tables whose cells are plain words, never JSON or reprs.

``--json`` is the machine format of every operator command; without it, rows become a
table. Piped output is not wrapped (a log or a ``grep`` gets whole rows).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["cell", "print_table"]


def cell(value: Any) -> str:
    """One value as a person reads it: ``a=1 b=2`` for a mapping, ``x, y`` for a list."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        return " ".join(f"{k}={cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return ", ".join(cell(v) for v in value) or "-"
    return str(value)


def print_table(
    rows: Sequence[Mapping[str, Any]], *, title: str | None = None, empty: str = "nothing to report"
) -> None:
    console = Console(width=None if sys.stdout.isatty() else 10_000, highlight=False)
    if not rows:
        console.print(empty)
        return
    table = Table(title=title, title_justify="left", header_style="bold")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(cell(row.get(column)) for column in columns))
    console.print(table)
