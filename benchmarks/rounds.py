"""How the benchmarks time their paths: interleaved rounds in balanced orders, paired ratios.

On a shared two-core machine whole runs drift apart as neighbours come and go, so every
figure here is measured in rounds that run the paths back to back (``rates_of``) and
reported as the median of the per-round ratios (``Rounds.ratio``, ``paired``), with
each path's CPU per job beside it (``cpu_table``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import psutil

from queue_router import QueueRouter

Timed = Callable[[str], Awaitable[tuple[int, float]]]
"""One run of a path, given a fresh id tag: (jobs done, seconds its timed part took)."""


def at_level(level: int, jobs: int, call: Callable[[str, int], Awaitable[object]]) -> Timed:
    """``call(tag, i)`` for ``jobs`` values of ``i``, ``level`` at a time, timed."""

    async def run(tag: str) -> tuple[int, float]:
        gate = asyncio.Semaphore(level)

        async def one(i: int) -> None:
            async with gate:
                await call(tag, i)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(jobs)))
        return jobs, time.perf_counter() - started

    return run


def enqueues(
    router: QueueRouter, mode: str, prefix: str
) -> Callable[[str, int], Awaitable[object]]:
    """``call(tag, i)`` for ``at_level``: job ``i`` on ``mode``'s queue, id ``prefix-tag-i``."""

    def enqueue(tag: str, i: int) -> Awaitable[object]:
        return router.enqueue(f"bench-{mode}", {"i": i}, job_id=f"{prefix}-{tag}-{i}")

    return enqueue


@dataclasses.dataclass
class Rounds:
    """Per path, per round: jobs/s, this process's CPU µs per job (every thread's: the
    Temporal SDK's core runs in its own), and Redis's and the Temporal dev server's CPU
    µs per job when they were read. The paths of one round ran back to back."""

    rates: dict[str, list[float]]
    cpu_us: dict[str, list[float]]
    redis_us: dict[str, list[float]]
    temporal_us: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    p50_us: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    """A call's median latency in each round, where the paths time their calls."""

    def median(self, name: str) -> float:
        return statistics.median(self.rates[name])

    def ratio(
        self, name: str, *peers: str, of: dict[str, list[float]] | None = None
    ) -> tuple[float, list[float]]:
        """The median of the per-round ratios of ``name``'s jobs/s (or of the figure
        ``of`` holds, such as ``temporal_us``) to the mean of ``peers``', and each
        round's ratio.

        Paired by round, as ``bench_vs_node.py`` pairs them: a neighbour's load, or the
        dev server slowing as its database grows, moves both sides of a round together;
        a median, so a round hit by a pause elsewhere moves one ratio, not the figure.
        """
        values = self.rates if of is None else of
        each = [
            values[name][r] / statistics.mean(values[peer][r] for peer in peers)
            for r in range(len(values[name]))
        ]
        return statistics.median(each), each


def balanced_orders(n: int) -> list[list[int]]:
    """Orders of ``n`` paths in which each path comes right after each other path equally
    often, and in each place equally often (a Williams design).

    A path leaves work behind for the next one (garbage to collect, a server still
    writing what the last round started), and a server slows as its database grows. A
    plain rotation of three paths puts one of them right after another in five rounds
    of seven; this puts every path after every other the same number of times.
    """
    first, low, high = [0], 1, n - 1
    while len(first) < n:
        first.append(low)
        low += 1
        if len(first) < n:
            first.append(high)
            high -= 1
    orders = [[(index + shift) % n for index in first] for shift in range(n)]
    return orders if n % 2 == 0 else orders + [order[::-1] for order in orders]


SETTLE_S = 0.02
"""How long ``rates_of`` waits after a path's timed part before reading the CPU figures:
work the path left behind (a shadow handoff's last write, ``_GATHER_S`` after its
first copy) counts as that path's, not the next one's."""


async def rates_of(
    paths: dict[str, Timed], rounds: int, redis: Any = None, temporal: psutil.Process | None = None
) -> Rounds:
    """Jobs/s of each path over ``rounds`` interleaved rounds in balanced orders (a
    whole number of designs: ``rounds`` must be a multiple of their count); Redis's CPU
    around each run when ``redis`` is given, the dev server's when ``temporal`` is."""
    names = list(paths)
    orders = balanced_orders(len(names))
    assert rounds % len(orders) == 0, f"{rounds} rounds: not a multiple of {len(orders)}"
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    redis_cpu: dict[str, list[float]] = {name: [] for name in names}
    server_cpu: dict[str, list[float]] = {name: [] for name in names} if temporal else {}

    async def redis_seconds() -> float:
        if redis is None:
            return 0.0
        info: Any = await redis.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def server_seconds() -> float:
        return 0.0 if temporal is None else sum(temporal.cpu_times()[:2])

    for r in range(rounds):
        for name in (names[index] for index in orders[r % len(orders)]):
            server_before = server_seconds()
            redis_before, cpu_before = await redis_seconds(), time.process_time()
            done, seconds = await paths[name]("t" + uuid.uuid4().hex[:8])  # never all digits
            await asyncio.sleep(SETTLE_S)  # what it left behind is its own
            cpu[name].append((time.process_time() - cpu_before) / done * 1e6)
            if temporal is not None:  # in clock ticks (10 ms): a round is seconds of it
                server_cpu[name].append((server_seconds() - server_before) / done * 1e6)
            if redis is not None:
                redis_cpu[name].append((await redis_seconds() - redis_before) / done * 1e6)
            rates[name].append(done / seconds)
    return Rounds(rates, cpu, redis_cpu, server_cpu)


def dev_server() -> psutil.Process | None:
    """The Temporal dev server this benchmark started (``None`` for one given by
    ``TEMPORAL_CLUSTER_URL``): its CPU per start says what each path costs the server."""
    started = [p for p in psutil.Process().children(recursive=True) if "temporal" in p.name()]
    return started[0] if len(started) == 1 else None


def quartiles(values: list[float]) -> str:
    """The first and third quartile of ``values``, as ``a-b``."""
    low, _, high = statistics.quantiles(values, n=4)
    return f"{low:.2f}-{high:.2f}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def paired(label: str, ratio: tuple[float, list[float]], target: str) -> None:
    """One ratio line: the median of the per-round ratios, the target, their spread."""
    median, each = ratio
    print(f"{label:<48}: {median:.3f}  (target {target}; middle half of rounds "
          f"{quartiles(each)}, all {min(each):.2f}-{max(each):.2f})")  # fmt: skip


def cpu_table(rounds: Rounds, unit: str) -> None:
    """Each path's median rate and its CPU per job: this process's and, where read,
    Redis's and the dev server's."""
    for name in rounds.rates:
        redis, server = rounds.redis_us[name], rounds.temporal_us.get(name)
        on_redis = f"{statistics.median(redis):>8.1f} µs CPU/job (Redis)" if redis else ""
        on_server = f"{statistics.median(server):>8.0f} µs (dev server)" if server else ""
        print(f"  {name:<38}{rounds.median(name):>8,.0f} {unit}"
              f"{statistics.median(rounds.cpu_us[name]):>8.1f} µs CPU/job (caller)"
              f"{on_redis}{on_server}")  # fmt: skip
