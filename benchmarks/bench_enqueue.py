"""Enqueue latency and throughput per mode, side by side in one run, on real servers.

Prints p50/p99 latency of sequential calls and throughput at a fixed concurrency for
bull, rq, temporal, dual and shadow; then the ratios the design promises:
dual latency ~ the slower side (not the sum), shadow latency ~ legacy alone; route()
against a bare mmh3 hash; the Temporal path against a raw ``start_workflow``, with and
without the placement memory; ``enqueue_many`` against raw starts at the best concurrency
level found (with what each costs this process, Redis and the dev server in CPU per
start: the dev server is the limit); and ``queue-router migrate`` against raw starts.
Node's Bull producer is the peer in ``bench_vs_node.py``.
Usage: python benchmarks/bench_enqueue.py [--jobs N] [--concurrency C] [--temporal-rounds R]
                                           [--fsync always|everysec|no]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, get_args

import mmh3
import redis.asyncio as aredis
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from queue_router import Job, QueueRouter, Settings
from queue_router.cli.migration import open_migrator
from queue_router.control import RuntimeControl
from queue_router.migration.migrate import MigrationPlan
from queue_router.testing import MemoryBackend
from queue_router.testing.demo import servers
from queue_router.testing.devservers import AppendFsync, connect_temporal, free_port
from queue_router.wiring import backends_from_settings, control_client
from workflows import JobEnvelope

from rounds import (
    Rounds,
    Timed,
    at_level,
    balanced_orders,
    cpu_table,
    dev_server,
    enqueues,
    paired,
    percentile,
    rates_of,
)
from shadow_cost import (
    SEQUENTIAL_BLOCK,
    SHADOW_BLOCK,
    relay_rate,
    shadow_blocks,
    shadow_cost,
    shadow_counts,
    shadow_table,
)

MODES = ["bull", "rq", "temporal", "dual", "shadow"]


LATENCY_BLOCKS = 24
"""Blocks of sequential calls per mode: four balanced designs of six paths."""


async def latencies(
    router: QueueRouter, jobs: int, down: QueueRouter | None = None, blocks: int = LATENCY_BLOCKS
) -> dict[str, list[float]]:
    """Sequential calls, ``jobs`` a mode, in ``blocks`` blocks of one mode's calls each,
    the blocks in balanced orders so each mode sees the same server conditions.

    In blocks, not one call of each mode in turn: work a call leaves in the background (a
    shadow copy's handoff, the SDK's threads finishing a start) lands on the next call,
    which must be the same mode's for its latency to include it. ``down`` is a router
    whose Temporal is unreachable: its shadow mode shows what a Temporal outage costs
    the caller in shadow mode (reliability scenario 7).
    """
    tag = "t" + uuid.uuid4().hex[:8]  # never all digits (a Bull id rule)
    paths = {mode: (router, f"bench-{mode}") for mode in MODES}
    if down is not None:
        paths["shadow, temporal down"] = (down, "bench-shadow-down")
    names = list(paths)
    orders = balanced_orders(len(names))
    seen: dict[str, list[float]] = {name: [] for name in names}
    block = max(1, jobs // blocks)
    for b in range(blocks):
        for name in (names[index] for index in orders[b % len(orders)]):
            caller, queue = paths[name]
            for i in range(b * block, (b + 1) * block):
                started = time.perf_counter()
                await caller.enqueue(queue, {"i": i}, job_id=f"seq-{tag}-{i}")
                seen[name].append((time.perf_counter() - started) * 1000)
    return seen


async def throughput(router: QueueRouter, mode: str, jobs: int, concurrency: int) -> float:
    call = enqueues(router, mode, "par")
    done, seconds = await at_level(concurrency, jobs, call)("t" + uuid.uuid4().hex[:8])
    return done / seconds  # the tag is never all digits (a Bull id rule)


def raw_starts(client: Client, task_queue: str, jobs: int, level: int) -> Timed:
    """``client.start_workflow`` directly, ``level`` at a time: the peer."""

    def start(tag: str, i: int) -> Awaitable[object]:
        return client.start_workflow(
            "bench", JobEnvelope("bench-temporal", f"{tag}{i}", "__default__", {"i": i}),
            id=f"raw/{tag}{i}", task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )  # fmt: skip

    return at_level(level, jobs, start)


async def temporal_path_cost(
    settings: Settings, client: Client, jobs: int, concurrency: int, rounds: int = 48
) -> tuple[Rounds, Rounds, Rounds]:
    """Starts/s of raw ``start_workflow`` at each of ``RAW_LEVELS``; of raw ``start_workflow``,
    raw again (the control: this machine's noise), the router with its placement memory in
    Redis (one extra write per start) and the router with it in-process only, all at
    ``concurrency``; of raw ``start_workflow`` at the best level found, twice (the second a
    control again), and ``enqueue_many`` at it. ``jobs`` starts a round; Redis's CPU is
    read around each (the placement records are all the Redis work of these paths).
    """
    shared = QueueRouter(settings)
    local = QueueRouter(settings, backends=backends_from_settings(settings))  # in-process memory
    task_queue = settings.temporal.temporal_task_queue

    def via(router: QueueRouter) -> Timed:
        def enqueue(tag: str, i: int) -> Awaitable[object]:
            return router.enqueue("bench-temporal", {"i": i}, job_id=f"{tag}{i}")

        return at_level(concurrency, jobs, enqueue)

    def many(level: int) -> Timed:
        async def run(tag: str) -> tuple[int, float]:
            batch = [Job({"i": i}, job_id=f"{tag}{i}") for i in range(jobs)]
            started = time.perf_counter()
            await shared.enqueue_many("bench-temporal", batch, concurrency=level)
            return jobs, time.perf_counter() - started

        return run

    redis, server = control_client(settings), dev_server()
    async with shared, local:
        level_of = {f"raw at concurrency {n}": n for n in RAW_LEVELS}
        levels = await rates_of(
            {name: raw_starts(client, task_queue, jobs, n) for name, n in level_of.items()},
            4, None, server,
        )  # fmt: skip
        best = level_of[max(levels.rates, key=levels.median)]
        raw = raw_starts(client, task_queue, jobs, concurrency)
        equal = await rates_of({"raw start_workflow": raw, "raw again (control)": raw,
                                "router": via(shared),
                                "router, memory in-process": via(local)}, rounds, redis, server)  # fmt: skip
        at_best = raw_starts(client, task_queue, jobs, best)
        bulk = await rates_of({"raw start_workflow at its best level": at_best,
                               "raw at its best level again (control)": at_best,
                               f"router enqueue_many at {best}": many(best)}, rounds, redis, server)  # fmt: skip
    await redis.aclose()
    return levels, equal, bulk


TEMPORAL_ROUND = 250
"""Starts in one round of a Temporal path. Many short rounds rather than a few long ones:
single rounds on this machine swing by a quarter either way (raw against raw 0.82-1.36x),
and twelve rounds of 500 left the router's ratio anywhere from 0.90x to 1.02x from run
to run. Rounds next to each other still share the dev server's slow swings (raw against
raw over 42 rounds has read 0.94x): read a ratio against the control's."""

RAW_LEVELS = (20, 50, 100, 200)
"""Concurrency levels tried for raw ``start_workflow``; ``enqueue_many`` meets the best."""


async def migration_cost(
    settings: Settings, client: Client, jobs: int, concurrency: int, rounds: int = 6
) -> Rounds:
    """Jobs/s of ``queue-router migrate`` moving waiting Bull jobs into workflows, and of raw
    ``start_workflow`` at the same concurrency, interleaved."""
    task_queue = settings.temporal.temporal_task_queue

    async def migrate(tag: str) -> tuple[int, float]:
        async with QueueRouter(settings) as router:
            await router.enqueue_many("bench-bull", [Job({"i": i}, job_id=f"mig-{tag}-{i}")
                                                     for i in range(jobs)])  # fmt: skip
        plan = MigrationPlan(queues=["bench-bull"], batch_size=jobs, concurrency=concurrency)
        async with open_migrator(settings) as migrator:
            started = time.perf_counter()
            report = await migrator.run(plan)
            elapsed = time.perf_counter() - started
        moved = report.counts()["moved"]  # ours, and what earlier phases left waiting there
        assert moved >= jobs and report.ok, report.counts()
        return moved, elapsed

    return await rates_of(
        {"raw start_workflow": raw_starts(client, task_queue, jobs, concurrency),
         "migrate": migrate}, rounds,
    )  # fmt: skip


async def route_costs(settings: Settings, n: int = 100_000) -> dict[str, float]:
    """Microseconds per call: bare ``mmh3.hash``, ``route()`` on env state, and on live state.

    The live state
    arrives as it does in production: written through the shared runtime control in
    Redis, picked up by the router's control loop (a table swap). Each ``route()`` figure
    is measured right after a bare-hash one; medians of 5 rounds (a busy neighbour slows
    a round's figures together, not one side of the ratio).
    """
    backends = {name: MemoryBackend(name) for name in ("bull", "rq", "temporal")}
    control = RuntimeControl(control_client(settings))
    router = QueueRouter(settings, backends=backends, control=control)
    rounds = itertools.count()

    def per_call(call: Callable[[str], object]) -> float:
        """Fastest of 5 passes over ``n`` keys (as ``timeit`` does: slower passes measure
        the neighbours). Routes are kept by bucket, not by key, so a key seen before costs
        what a new one does; a first pass makes each bucket's route of the state once."""
        r = next(rounds)
        keys = [f"user-{r}-{i}" for i in range(n)]
        passes = []
        for _ in range(6):
            started = time.perf_counter()
            for key in keys:
                call(key)
            passes.append(time.perf_counter() - started)
        return min(passes[1:]) / n * 1e6

    def bare() -> float:
        return per_call(lambda k: mmh3.hash(k, 0, False))

    def routed() -> float:
        return per_call(lambda k: router.route("bench-shadow", k))

    figures: dict[str, list[float]] = {"mmh3.hash": [], "route(), env state": [],
                                       "route(), live state": [], "env / bare": [],
                                       "live / bare": []}  # fmt: skip
    async with router:  # the same effective config, alternately from env and from live state
        for _ in range(5):
            hashed, env = bare(), routed()
            await control.set("bench-shadow", mode="shadow", percentage=None, reason="bench",
                              by="bench")  # fmt: skip
            await asyncio.sleep(1.5)  # every instance applies a change within 2 s
            hashed_again, live = bare(), routed()
            await control.clear("bench-shadow", reason="bench", by="bench")
            await asyncio.sleep(1.5)
            for name, value in (("mmh3.hash", hashed), ("route(), env state", env),
                                ("route(), live state", live), ("env / bare", env / hashed),
                                ("live / bare", live / hashed_again)):  # fmt: skip
                figures[name].append(value)
    return {name: statistics.median(values) for name, values in figures.items()}


async def main(jobs: int, concurrency: int, temporal_rounds: int, fsync: AppendFsync) -> None:
    with servers(appendfsync=fsync) as (redis_url, target):
        client = await connect_temporal(target)
        print(await persistence(redis_url))
        queues: dict[str, Any] = {
            f"bench-{m}": {"mode": m, "workflow_type": "bench"} for m in MODES
        }
        queues["bench-shadow-down"] = {"mode": "shadow", "workflow_type": "bench"}
        for name, mode in [("bull-1", "bull"), ("bull-2", "bull"), ("shadow", "shadow")]:
            queues[f"blocks-{name}"] = {"mode": mode, "workflow_type": "bench"}
        settings = Settings.from_env(
            redis_url=redis_url, temporal_cluster_url=target,
            temporal_task_queue=f"bench-{uuid.uuid4().hex[:6]}", queues=queues,
        )  # fmt: skip
        dead_target = {"temporal_cluster_url": f"127.0.0.1:{free_port()}"}
        dead = dataclasses.replace(
            settings, temporal=settings.temporal.model_copy(update=dead_target)
        )
        async with QueueRouter(settings) as router, QueueRouter(dead) as down:
            await latencies(router, 20, down)  # warm up connections
            seen = await latencies(router, jobs, down)

            rates = {mode: await throughput(router, mode, jobs, concurrency) for mode in MODES}
        shadow_stats = shadow_counts("bench-shadow")
        down_stats = shadow_counts("bench-shadow-down")
        print(f"\nenqueue benchmark: {len(seen['bull'])} sequential calls per mode, in blocks "
              f"of {len(seen['bull']) // LATENCY_BLOCKS}; {jobs} jobs at concurrency {concurrency}\n")  # fmt: skip
        print(f"{'mode':<24}{'p50 ms':>9}{'p99 ms':>9}{'jobs/s':>10}")
        p50 = {mode: statistics.median(values) for mode, values in seen.items()}
        for mode in seen:
            rate = f"{rates[mode]:>10,.0f}" if mode in rates else f"{'-':>10}"
            print(f"{mode:<24}{p50[mode]:>9.2f}{percentile(seen[mode], 0.99):>9.2f}{rate}")
        bull, temporal, dual, shadow = (p50[m] for m in ("bull", "temporal", "dual", "shadow"))
        print(
            f"\ndual p50 / slower side p50 : {dual / max(bull, temporal):.2f}  (1.0 = fully concurrent)"
        )
        print(f"dual p50 / sum of sides p50: {dual / (bull + temporal):.2f}  (1.0 = sequential)")
        print(
            f"shadow p50 / bull p50      : {shadow / bull:.2f}  (1.0 = shadow costs the caller nothing)"
        )
        down_p99 = percentile(seen["shadow, temporal down"], 0.99)
        print(
            f"shadow p99 with Temporal down / bull p99: {down_p99 / percentile(seen['bull'], 0.99):.2f}"
        )
        print(f"shadow copies: {shadow_stats} (dropped: over a bound, see QUEUE_ROUTER_SHADOW_*)")
        print(f"shadow copies with Temporal down: {down_stats}")
        blocks = await shadow_blocks(settings, concurrency)
        print(f"\nshadow's cost to a caller at concurrency {concurrency}: "
              f"{len(blocks.rates['bull'])} repetitions of {SHADOW_BLOCK}-job blocks per path, "
              "interleaved on one router:")  # fmt: skip
        shadow_table(blocks)
        alone = await shadow_blocks(settings, 1, repetitions=60, block=SEQUENTIAL_BLOCK)
        print(f"\nshadow's cost to a sequential caller: {len(alone.rates['bull'])} repetitions "
              f"of {SEQUENTIAL_BLOCK} calls one after another per path, interleaved:")  # fmt: skip
        shadow_table(alone)
        cost_jobs = max(jobs, 2000)  # a round of 500 lasts 50 ms: noise, not a figure
        cost = await shadow_cost(settings, cost_jobs, concurrency)
        print(f"the way before the handoff, shadow started in the caller's process "
              f"({cost_jobs} jobs a round, fresh router each round, medians of 8 rounds):")  # fmt: skip
        for name in cost.rounds.rates:
            print(f"  {name:<28}{cost.rounds.median(name):>8,.0f} jobs/s"
                  f"{statistics.median(cost.rounds.cpu_us[name]):>8.0f} µs CPU/job"
                  f"{cost.dropped[name]:>8,} copies dropped")  # fmt: skip
        paired("  in-process shadow jobs/s / bull jobs/s",
               cost.rounds.ratio("shadow, started in-process", "bull"), "1.0 = no cost")  # fmt: skip
        print(f"one worker's relay, afterwards: {await relay_rate(settings, client)}")
        routes = await route_costs(settings)
        print("\nroute() per call (100,000 keys, fastest of 5 passes, median of 5 rounds):")
        for name in ("mmh3.hash", "route(), env state", "route(), live state"):
            print(f"  {name:<28}{routes[name]:>8.2f} µs")
        print(f"route() / bare mmh3.hash               : {routes['env / bare']:.2f}"
              "  (target <= 3)")  # fmt: skip
        print(f"route() on live state / bare mmh3.hash : {routes['live / bare']:.2f}")
        levels, equal, bulk = await temporal_path_cost(
            settings, client, TEMPORAL_ROUND, concurrency, temporal_rounds
        )
        print(f"\nTemporal path, {TEMPORAL_ROUND} starts a round, {temporal_rounds} rounds in "
              "balanced orders (medians):")  # fmt: skip
        cpu_table(levels, "starts/s")
        cpu_table(equal, "starts/s")
        cpu_table(bulk, "starts/s")
        raw, control, *_ = equal.rates
        best_raw, best_control, many = bulk.rates
        paired("raw / raw (the control: this machine's noise)",
               equal.ratio(control, raw), "1.0")  # fmt: skip
        paired("router / raw start_workflow", equal.ratio("router", raw, control), ">= 0.95")
        paired("raw at its best level / itself (control)",
               bulk.ratio(best_control, best_raw), "1.0")  # fmt: skip
        paired("enqueue_many / raw at its best level",
               bulk.ratio(many, best_raw, best_control), ">= 1.0")  # fmt: skip
        paired("placement memory in Redis / in-process",
               equal.ratio("router", "router, memory in-process"), "its one extra write")  # fmt: skip
        if equal.temporal_us:  # what each start costs the limit: the dev server's CPU
            paired("dev server's CPU a start: router / raw",
                   equal.ratio("router", raw, control, of=equal.temporal_us), "1.0")  # fmt: skip
            paired("dev server's CPU a start: enqueue_many / raw",
                   bulk.ratio(many, best_raw, best_control, of=bulk.temporal_us), "1.0")  # fmt: skip
        moved = await migration_cost(settings, client, jobs, concurrency)
        moves = len(moved.rates["migrate"])
        print(
            f"\nmigrate, {jobs} waiting Bull jobs a round (medians of {moves} rounds, balanced orders):"
        )
        for name in moved.rates:
            print(f"  {name:<38}{moved.median(name):>8,.0f} jobs/s")
        paired("migrate / raw start_workflow", moved.ratio("migrate", "raw start_workflow"),
               ">= 0.8")  # fmt: skip


async def persistence(redis_url: str) -> str:
    """How the Redis under the benchmark keeps its writes, as it says itself (one given by
    ``REDIS_URL`` keeps its own settings). It decides what a write to it costs: synced on
    every write, Redis spends about 180 µs of CPU on a lone ``SET`` (one every 5 ms) on
    this machine, 60-90 µs without."""
    admin = aredis.Redis.from_url(redis_url, decode_responses=True)
    try:
        said = await admin.config_get("appendonly") | await admin.config_get("appendfsync")
    finally:
        await admin.aclose()
    return f"Redis: appendonly {said['appendonly']}, appendfsync {said['appendfsync']}"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument(
        "--temporal-rounds", type=int, default=48,
        help="rounds of the Temporal paths, a multiple of 12 (more: a finer ratio; a round "
        "of the four paths at concurrency 50 takes about 5 s)",
    )  # fmt: skip
    parser.add_argument("--fsync", choices=get_args(AppendFsync), default="everysec",
                        help="an embedded Redis's appendfsync: everysec is Redis's AOF default, "
                        "and the dev server does not sync each commit either")  # fmt: skip
    args = parser.parse_args()
    if args.temporal_rounds < 12 or args.temporal_rounds % 12:  # designs of 4 and 3 paths
        parser.error(f"--temporal-rounds {args.temporal_rounds}: must be a multiple of 12")
    asyncio.run(main(args.jobs, args.concurrency, args.temporal_rounds, args.fsync))
