"""Checks made before anything is written: the job id and the payload.

A bad id or name raises ``InvalidJobError``, bad data its subclass ``PayloadError``: both
are "definitely not written" errors naming the queue, so a bad job never reaches one
backend and not the other.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from json import encoder as json_encoder
from typing import Any

from queue_router.errors import InvalidJobError, PayloadError

__all__ = [
    "ENVELOPE_RESERVE",
    "MAX_JOB_NAME",
    "encode_payload",
    "kept_json_encoder",
    "new_job_id",
    "validate_job_id",
    "validate_job_name",
]

# Temporal's size limit applies to the whole workflow input: the data plus the envelope
# around it (queue, ids, name, options). This much of the limit is kept for the envelope.
ENVELOPE_RESERVE = 4096
MAX_JOB_NAME = 256

_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def kept_json_encoder(
    *, default: Callable[[Any], Any], ensure_ascii: bool, sort_keys: bool, allow_nan: bool
) -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"), ...)`` with these settings, exactly (same
    text, same errors), from one encoder built once.

    ``json.dumps`` and ``JSONEncoder.encode`` build their C encoder again on every call,
    and a job is encoded on every enqueue: a small payload took 2.4 µs that way, 0.7 µs
    with the encoder kept. Without the C encoder (another Python), ``encode`` it is. A
    value that contains itself recurses until Python stops it (``RecursionError``), as
    one nested too deeply does.
    """
    stdlib = json.JSONEncoder(
        separators=(",", ":"), ensure_ascii=ensure_ascii, sort_keys=sort_keys,
        allow_nan=allow_nan, default=default,
    )  # fmt: skip
    make = getattr(json_encoder, "c_make_encoder", None)
    if make is None:
        return stdlib.encode
    strings = (
        json_encoder.encode_basestring_ascii if ensure_ascii else json_encoder.encode_basestring
    )
    try:
        chunks = make(None, default, strings, None, ":", ",", sort_keys, False, allow_nan)
    except TypeError:  # another signature than CPython 3.11-3.13's
        return stdlib.encode
    join = "".join
    return lambda value: join(chunks(value, 0))


_to_json = kept_json_encoder(
    default=json.JSONEncoder().default, ensure_ascii=False, sort_keys=False, allow_nan=False
)
"""The payload's text: compact, non-ASCII as itself, NaN refused."""
# Bull keeps job hashes beside its structural keys: an id equal to one would clobber it.
_BULL_SUFFIXES = frozenset(
    [
        "id",
        "wait",
        "paused",
        "meta-paused",
        "meta",
        "active",
        "priority",
        "delayed",
        "completed",
        "failed",
        "stalled",
        "stalled-check",
        "repeat",
        "limiter",
        "events",
        "marker",
        "pc",
        "prioritized",
    ]
)


def new_job_id() -> str:
    """A fresh job id: 32 hex digits, never all decimal digits.

    About one uuid4 in three million has only the digits 0-9 in its hex form, which
    ``validate_job_id`` refuses (Bull's counter ids are all digits); draw again then.
    """
    while True:
        job_id = uuid.uuid4().hex
        if not job_id.isdigit():
            return job_id


def validate_job_id(queue: str, job_id: str) -> None:
    """Ids must be valid for Bull, RQ and Temporal at once.

    Letters, digits, ``_`` and ``-`` (RQ's rule; no ``:`` for Bull's rate limiter), at
    most 128 characters, not all digits (Bull's own counter ids would collide), and
    not one of Bull's structural key names.
    """
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise InvalidJobError(queue, f"job_id {job_id!r} must be 1-128 letters, digits, '_' or '-'")
    if job_id.isdigit():
        raise InvalidJobError(
            queue, f"job_id {job_id!r} is all digits and would collide with Bull's own ids"
        )
    if job_id in _BULL_SUFFIXES:
        raise InvalidJobError(queue, f"job_id {job_id!r} is a reserved Bull key name")


def validate_job_name(queue: str, name: str) -> None:
    """Bull job names must be non-empty text; bounded so the envelope reserve holds."""
    if not isinstance(name, str) or not 0 < len(name) <= MAX_JOB_NAME:
        raise InvalidJobError(queue, f"job name {name!r} must be 1-{MAX_JOB_NAME} characters")


def encode_payload(queue: str, data: Any, *, limit: int) -> str:
    """The payload as compact JSON text, checked so the whole envelope fits in ``limit``."""
    try:
        text = _to_json(data)
    except (TypeError, ValueError) as exc:
        raise PayloadError(queue, f"payload is not JSON-serializable: {exc}") from exc
    except RecursionError:  # not an exception of ours to pass on: a bad payload, named
        raise PayloadError(
            queue, "payload is nested too deeply (or contains itself) to encode as JSON"
        ) from None
    size = len(text) if text.isascii() else len(text.encode("utf-8"))  # isascii: O(1)
    room = limit - ENVELOPE_RESERVE
    if size > room:
        raise PayloadError(
            queue,
            f"payload is {size} bytes as JSON, over the {room} bytes that fit "
            f"(QUEUE_ROUTER_MAX_PAYLOAD_BYTES={limit}, less {ENVELOPE_RESERVE} for the envelope)",
        )
    return text
