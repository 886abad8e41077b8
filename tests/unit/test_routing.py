"""Routing is a pure, stable function of the key: checked against an independent murmur3."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from queue_router import Mode, QueueRouter, Settings, bucket
from queue_router.routing import Bucketing, decide, threshold
from queue_router.testing import MemoryBackend

KEYS = [f"user-{i}" for i in range(10_000)]


def murmur3_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit, written from the published algorithm, for cross-checking."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed
    rounded = len(data) - len(data) % 4
    for i in range(0, rounded, 4):
        k = int.from_bytes(data[i : i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    k = 0
    tail = data[rounded:]
    for i, byte in enumerate(tail):
        k |= byte << (8 * i)
    if tail:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def test_worked_values_in_the_readme() -> None:
    # The README's table; other services reproduce these to agree with us.
    assert bucket("user-42") == 2080
    assert bucket("") == 0
    assert bucket("a") == 4850
    assert bucket("mail-1") == murmur3_32(b"mail-1") % 10_000


@given(st.text())
def test_bucket_is_murmur3_of_utf8_mod_10000(key: str) -> None:
    assert bucket(key) == murmur3_32(key.encode("utf-8")) % 10_000
    assert 0 <= bucket(key) < 10_000


def _temporal_keys(percentage: float) -> set[str]:
    return {
        k for k in KEYS
        if decide(queue="q", key=k, mode=Mode.PERCENTAGE, percentage=percentage,
                  legacy="bull").to_temporal
    }  # fmt: skip


def test_share_at_25_percent_is_within_one_point() -> None:
    share = len(_temporal_keys(25)) / len(KEYS) * 100
    assert 24 <= share <= 26, share


def test_ramp_is_monotonic() -> None:
    at_10, at_50, at_100 = _temporal_keys(10), _temporal_keys(50), _temporal_keys(100)
    assert at_10 < at_50 < at_100 == set(KEYS)
    assert _temporal_keys(0) == set()


@given(st.text(), st.floats(0, 100), st.floats(0, 100))
def test_raising_the_percentage_never_moves_a_key_back(key: str, a: float, b: float) -> None:
    low, high = sorted((round(a, 2), round(b, 2)))

    def to_temporal(p: float) -> bool:
        route = decide(queue="q", key=key, mode=Mode.PERCENTAGE, percentage=p, legacy="rq")
        return route.to_temporal

    assert not to_temporal(low) or to_temporal(high)


def test_two_decimal_percentages_round_to_buckets() -> None:
    assert threshold(0.29) == 29  # 0.29 * 100 is 28.999... in floating point
    assert threshold(33.33) == 3333
    assert threshold(100) == 10_000


def test_same_decisions_in_a_separate_process() -> None:
    script = (
        "import json, sys; from queue_router import bucket; "
        "print(json.dumps([bucket(k) for k in json.load(sys.stdin)]))"
    )
    sample = [*KEYS[:2000], "ünïcødé-ключ", "emoji-🚀", ""]
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=json.dumps(sample),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    assert json.loads(out.stdout) == [bucket(k) for k in sample]


def test_modes_pick_primary_secondary_and_shadow() -> None:
    def route(mode: Mode, pct: float = 0) -> tuple[str, str | None, str | None]:
        r = decide(queue="q", key="k", mode=mode, percentage=pct, legacy="bull")
        return r.primary, r.secondary, r.shadow

    assert route(Mode.BULL) == ("bull", None, None)
    assert route(Mode.RQ) == ("rq", None, None)
    assert route(Mode.TEMPORAL) == ("temporal", None, None)
    assert route(Mode.DUAL, 50) == ("bull", "temporal", None)
    assert route(Mode.DUAL, 100) == ("temporal", "bull", None)
    assert route(Mode.SHADOW) == ("bull", None, "temporal")


BUCKETINGS = [Bucketing(), Bucketing(salt="s1"), Bucketing("unleash", group_id="g"),
              Bucketing("flagd", flag_key="f")]  # fmt: skip
ROUTER = QueueRouter(
    Settings.from_env(queues={"q": {"mode": "bull", "workflow_type": "w"}}),
    backends={name: MemoryBackend(name) for name in ("bull", "rq", "temporal")},
)


@given(
    st.lists(st.text(), min_size=1, max_size=30),
    st.sampled_from(list(Mode)),
    st.floats(0, 100),
    st.sampled_from(BUCKETINGS),
    st.floats(0, 100),
)
def test_router_route_from_its_table_is_decide(
    keys: list[str], mode: Mode, pct: float, how: Bucketing, shadow_pct: float
) -> None:
    """``route()`` inlines the hash and keeps routes by bucket; it must still be ``decide``."""
    base = ROUTER.settings.queue("q")
    legacy = mode.value if mode in (Mode.BULL, Mode.RQ) else "bull"
    config = replace(base, mode=mode, percentage=pct, legacy=legacy, bucketing=how,
                     shadow=replace(base.shadow, percentage=shadow_pct))  # fmt: skip
    ROUTER._set_table("q", config)
    for key in keys:
        expected = decide(queue="q", key=key, mode=mode, percentage=pct, legacy=legacy,
                          bucketing=how, shadow_percentage=shadow_pct)  # fmt: skip
        assert ROUTER.route("q", key) == expected
        assert ROUTER.route("q", key) is ROUTER.route("q", key)  # kept, not rebuilt
