"""Frozen dataclasses made on the enqueue path without their generated ``__init__``.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (its
own ``__setattr__`` refuses), about 0.15 µs a field, and every enqueue makes a request
(16 fields), a placement (7) and a receipt (10). Set through the slots' own
descriptors, they take a third of that and are the same objects, as frozen. In A/B
rounds of Bull enqueues at concurrency 50 in one process, building the request this
way cut the CPU a job by a tenth, the placement and the receipt by another tenth.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

__all__ = ["Setter", "slot_setters"]

Setter = Callable[[Any, Any], None]


def slot_setters(cls: type[Any], *names: str) -> tuple[Setter, ...]:
    """The setters of ``cls``'s slots ``names``: all its fields, in their order.

    Checked when the builder's module is imported: a field added to ``cls`` and not to
    its builder fails there, not as a half-made object.
    """
    actual = tuple(f.name for f in fields(cls))
    if names != actual:
        raise TypeError(f"a builder of {cls.__name__} sets {names}, its fields are {actual}")
    setters: tuple[Setter, ...] = tuple(getattr(cls, name).__set__ for name in names)
    return setters
