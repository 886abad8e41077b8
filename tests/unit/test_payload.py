"""The payload's JSON text: what ``json.dumps`` writes, and refuses, for any payload."""

from __future__ import annotations

import json
from json import encoder as json_encoder

import pytest
from hypothesis import given
from hypothesis import strategies as st

from queue_router.errors import PayloadError
from queue_router.payload import encode_payload, kept_json_encoder

LIMIT = 2 * 1024 * 1024

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()  # nan and infinities included: both must refuse them
    | st.text()
)
payloads = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text() | st.integers() | st.booleans() | st.none(), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(payloads)
def test_text_and_refusals_are_json_dumps_own(data: object) -> None:
    try:
        expected = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:
        with pytest.raises(PayloadError, match="not JSON-serializable"):
            encode_payload("q", data, limit=LIMIT)
        return
    assert encode_payload("q", data, limit=LIMIT) == expected


@pytest.mark.parametrize("data", [{"when": object()}, {1.5: {2, 3}}, [b"bytes"]])
def test_what_json_cannot_write_is_named(data: object) -> None:
    with pytest.raises(PayloadError, match="not JSON-serializable: Object of type"):
        encode_payload("q", data, limit=LIMIT)


_C_MAKE_ENCODER = json_encoder.c_make_encoder  # type: ignore[attr-defined]  # private, untyped


def _another_signature(markers: object, *rest: object) -> object:
    """A C encoder whose arguments changed: ours fail, the standard library's (updated
    with it) still work."""
    if markers is None:
        raise TypeError("another signature")
    assert _C_MAKE_ENCODER is not None
    return _C_MAKE_ENCODER(markers, *rest)


@pytest.mark.parametrize("c_encoder", [None, _another_signature])
def test_without_the_c_encoder_the_text_is_the_same(
    monkeypatch: pytest.MonkeyPatch, c_encoder: object
) -> None:
    """Another Python (no C encoder, or one with another signature): ``encode`` it is."""
    monkeypatch.setattr(json_encoder, "c_make_encoder", c_encoder)
    encode = kept_json_encoder(
        default=json.JSONEncoder().default, ensure_ascii=True, sort_keys=True, allow_nan=False
    )
    data = {"b": [1, "é"], "a": None}
    assert encode(data) == json.dumps(data, separators=(",", ":"), sort_keys=True)
    with pytest.raises(ValueError, match="Out of range float"):
        encode({"x": float("nan")})
