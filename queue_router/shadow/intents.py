"""How shadow copies travel from the routers to the relays: one stream entry per batch.

An entry has two fields: ``n``, how many copies it holds, and ``c``, the copies as lines
of JSON. A line that is an object, ``{...}``, is the part the copies after it share
(their queue's settings, the job options, the compare window); a line that is an array,
``[...]``, is one copy: its job id, payload text, time and workflow id. A batch of one
queue's jobs carries the shared part once, so a copy costs the caller, the network and
Redis about 60 bytes rather than 400 (``orjson`` never writes a raw newline, so a line
is always one whole JSON text).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from queue_router.contract import EnqueueRequest

__all__ = ["IntentEncoder", "decode_intent", "entry_copies", "entry_lines", "lines_within"]

_SHARED = ("queue", "job_name", "options", "workflow_type", "task_queue", "rq_function",
           "versioning", "list_key", "list_envelope")  # fmt: skip
"""A copy's fields that are the same for every job of a queue (its settings, and the
options unless a call gave its own)."""
_OWN = ("job_id", "data_json", "timestamp_ms", "workflow_id")
"""A copy's fields of its own job."""
_shared_of = operator.attrgetter(*_SHARED)
_own_of = operator.attrgetter(*_OWN)


class IntentEncoder:
    """A shadow copy as its shared part and its own part, both JSON.

    The caller pays this on every shadowed job, so the shared part is encoded once per
    queue and kept (until a job of the queue differs in it: the same ``bytes`` object
    until then); per job only its own part is encoded, by ``orjson``. Encoding the whole
    record every time took 7.4 µs a copy, 5.5 of them the standard library's encoder;
    this takes under one. The copy is marked in the shared part (``shadow``), not built
    as a request: one object less per job.
    """

    def __init__(self) -> None:
        self._shared: dict[str, tuple[tuple[Any, ...], int, bytes]] = {}

    def __call__(self, request: EnqueueRequest, within_s: int) -> tuple[bytes, bytes]:
        shared = _shared_of(request)
        known = self._shared.get(request.queue)
        if known is None or known[1] != within_s or known[0] != shared:  # `is` first: cheap
            record = request.to_record()
            head = {name: record[name] for name in _SHARED}
            head["shadow"], head["compare_within_s"] = True, within_s
            known = self._shared[request.queue] = (shared, within_s, orjson.dumps(head))
        return known[2], orjson.dumps(_own_of(request))


def entry_lines(copies: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The ``c`` field of an entry holding ``copies`` (from ``IntentEncoder``), in order:
    a shared part is written again only where it changes."""
    lines: list[bytes] = []
    last: bytes | None = None
    for shared, own in copies:
        if shared is not last:  # one object per shared part; an equal copy only repeats it
            lines.append(shared)
            last = shared
        lines.append(own)
    return b"\n".join(lines)


def lines_within(copies: Sequence[tuple[bytes, bytes]], size: int) -> int:
    """How many of ``copies`` (the first ones) ``entry_lines`` writes in at most ``size``
    bytes. Counted as it writes them, not by writing them: a stream bounded in bytes
    refused the whole batch, and what fits of it still goes."""
    written, last = -1, None  # no newline before the first line
    for count, (shared, own) in enumerate(copies):
        if shared is not last:
            written, last = written + len(shared) + 1, shared
        written += len(own) + 1
        if written > size:
            return count
    return len(copies)


def entry_copies(fields: Mapping[str, str]) -> list[tuple[str, str]]:
    """Each copy of one stream entry as its (shared, own) JSON texts; ``ValueError`` when
    the entry is not one ``ShadowHandoff`` wrote."""
    try:
        count, text = int(fields["n"]), fields["c"]
        lines = text.split("\n")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not an entry of shadow copies: {exc!r}") from exc
    copies: list[tuple[str, str]] = []
    shared: str | None = None
    for line in lines:
        if line.startswith("{"):
            shared = line
        elif shared is None:
            raise ValueError("a copy before any shared part")
        else:
            copies.append((shared, line))
    if len(copies) != count:
        raise ValueError(f"{len(copies)} copies where the entry says {count}")
    return copies


def decode_intent(shared: str | bytes, own: str | bytes) -> EnqueueRequest:
    """The request ``IntentEncoder`` encoded; ``ValueError`` when it is not one."""
    try:
        head: Any = json.loads(shared)
        values: Any = json.loads(own)
        if not isinstance(values, list) or len(values) != len(_OWN):
            raise ValueError(f"{own!r} is not the {len(_OWN)} fields of a copy's own job")
        return EnqueueRequest.from_record({**head, **dict(zip(_OWN, values, strict=True))})
    except (TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"not a shadow copy: {exc!r}") from exc
