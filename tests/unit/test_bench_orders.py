"""The benchmarks' round orders: a ratio between paths is only fair if no path always
runs right after the same other one (it inherits that path's leftover work) or always
first (it meets the freshest server)."""

from __future__ import annotations

import asyncio
import collections
import itertools
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from rounds import SETTLE_S, Rounds, balanced_orders, rates_of


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
def test_every_path_follows_every_other_equally_often_and_holds_every_place(n: int) -> None:
    orders = balanced_orders(n)
    assert all(sorted(order) == list(range(n)) for order in orders), orders
    follows = collections.Counter(
        (before, after) for order in orders for before, after in itertools.pairwise(order)
    )
    assert len(follows) == n * (n - 1), f"some path never follows another: {orders}"
    assert len(set(follows.values())) == 1, f"uneven: {follows}"
    for place in range(n):
        assert sorted(order[place] for order in orders) == sorted(
            list(range(n)) * (len(orders) // n)
        ), f"place {place} uneven: {orders}"


def test_a_ratio_pairs_rounds_of_the_figure_asked_for() -> None:
    """Round by round, so a round the whole machine slowed moves both sides; of jobs/s
    unless another figure (the dev server's CPU a start) is asked for."""
    rounds = Rounds(
        rates={"a": [100.0, 50.0, 90.0], "b": [200.0, 100.0, 90.0]},
        cpu_us={}, redis_us={},
        temporal_us={"a": [8.0, 16.0, 7.0], "b": [4.0, 8.0, 7.0]},
    )  # fmt: skip
    assert rounds.ratio("a", "b") == (0.5, [0.5, 0.5, 1.0])
    assert rounds.ratio("a", "b", of=rounds.temporal_us) == (2.0, [2.0, 2.0, 1.0])


def test_work_a_path_leaves_behind_counts_as_its_own_cpu() -> None:
    """A shadow block's last handoff goes out a few milliseconds after its last call;
    read at once, the CPU figure left that write to whichever path ran next."""

    def burn() -> None:
        until = time.process_time() + 0.02
        while time.process_time() < until:
            pass

    async def leaves_work(tag: str) -> tuple[int, float]:
        asyncio.get_running_loop().call_later(SETTLE_S / 4, burn)
        return 1, 0.001

    async def idle(tag: str) -> tuple[int, float]:
        return 1, 0.001

    rounds = asyncio.run(rates_of({"leaves work": leaves_work, "idle": idle}, 2))
    assert min(rounds.cpu_us["leaves work"]) >= 20_000, rounds.cpu_us
    assert max(rounds.cpu_us["idle"]) < 10_000, rounds.cpu_us
