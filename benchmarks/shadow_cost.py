"""What a shadow copy costs the caller: Bull mode against shadow mode, side by side.

``shadow_cost``: the copies started in the caller's process (the way before the handoff),
in rounds on fresh routers; ``shadow_blocks``: handed to the workers, in short blocks on
one warm router with Bull mode against itself as the control; ``relay_rate``: what one
worker's relay then does with the copies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

from prometheus_client import REGISTRY
from temporalio.client import Client

from backends.temporal import TemporalBackend
from queue_router import QueueRouter, Settings
from queue_router.shadow.handoff import COPIES_KEY, INTENTS_KEY, backlog
from queue_router.shadow.relay import ShadowRelay
from queue_router.wiring import control_client

from rounds import Rounds, Timed, at_level, cpu_table, enqueues, paired, rates_of


@dataclasses.dataclass
class ShadowCost:
    """Per path: caller jobs/s and CPU per job by round (the CPU from the router's open to
    its close, so copies finishing after the timed part count), and the shadow copies
    dropped over all rounds."""

    rounds: Rounds
    dropped: dict[str, int]


async def shadow_cost(
    settings: Settings, jobs: int, concurrency: int, rounds: int = 8
) -> ShadowCost:
    """Bull mode against shadow mode started in the caller's process (the way before the
    handoff; ``QUEUE_ROUTER_SHADOW_STARTS=in-process``) at ``concurrency``, interleaved
    rounds.

    Each round runs on a fresh router, whose close lets its shadow starts finish outside
    the timed part (and inside its CPU figure): no round carries background work of
    another into its time.
    """
    in_process = dataclasses.replace(
        settings, routing=settings.routing.model_copy(update={"shadow_starts": "in-process"})
    )
    dropped: dict[str, int] = {}

    def in_mode(name: str, mode: str, settings: Settings) -> Timed:
        dropped[name] = 0

        async def run(tag: str) -> tuple[int, float]:
            drops = shadow_counts("bench-shadow")["dropped"]
            async with QueueRouter(settings) as router:
                result = await at_level(concurrency, jobs, enqueues(router, mode, "sc"))(tag)
            dropped[name] += shadow_counts("bench-shadow")["dropped"] - drops
            return result

        return run

    paths = {"bull": in_mode("bull", "bull", settings),
             "shadow, started in-process": in_mode("shadow, started in-process", "shadow",
                                                   in_process)}  # fmt: skip
    shadow_log = logging.getLogger("queue_router.shadow")
    level = shadow_log.level
    shadow_log.setLevel(logging.ERROR)  # a warning per drop: the table counts them
    try:
        return ShadowCost(await rates_of(paths, rounds), dropped)
    finally:
        shadow_log.setLevel(level)


SHADOW_BLOCK = 500
"""Jobs in one block of ``shadow_blocks``: a few tens of milliseconds at concurrency 50."""


SEQUENTIAL_BLOCK = 200
"""Calls in one block of ``shadow_blocks`` one after another: about 20 ms."""


async def shadow_blocks(
    settings: Settings, concurrency: int, repetitions: int = 42, block: int = SHADOW_BLOCK
) -> Rounds:
    """Bull mode, Bull mode again (the control) and shadow mode handed to the workers, in
    blocks of ``block`` jobs at ``concurrency`` on one warm router, interleaved.

    On a shared two-core machine whole runs drift apart by a third as neighbours come
    and go; blocks of a few tens of milliseconds put every path in the same conditions.
    At ``concurrency`` 1 the calls go one after another: what a sequential caller pays.
    The control is Bull mode against itself: the spread a path with no cost at all shows
    here. Redis's CPU is read around each block, and each call is timed: a block's
    median latency, paired by block, is the shadow p50 ratio with a control (the
    latency table's p50 ratio is of 480 calls a mode, and swings from 0.89x to 1.21x
    between runs).
    """
    names = {  # queues no other section writes to
        "bull": "blocks-bull-1",
        "bull again (control)": "blocks-bull-2",
        "shadow, handed off": "blocks-shadow",
    }
    redis = control_client(settings)
    async with QueueRouter(settings) as router:
        latencies: list[float] = []

        def on(queue: str) -> Callable[[str, int], Awaitable[object]]:
            async def call(tag: str, i: int) -> None:
                started = time.perf_counter()
                await router.enqueue(queue, {"i": i}, job_id=f"{tag}-{i}")
                latencies.append(time.perf_counter() - started)

            return call

        p50_us: dict[str, list[float]] = {name: [] for name in names}

        def timed(name: str, queue: str) -> Timed:
            run = at_level(concurrency, block, on(queue))

            async def block_of(tag: str) -> tuple[int, float]:
                latencies.clear()
                done = await run(tag)
                p50_us[name].append(statistics.median(latencies) * 1e6)
                return done

            return block_of

        for queue in names.values():  # warm: connections, scripts, caches
            await at_level(concurrency, block, on(queue))("w" + uuid.uuid4().hex[:8])
        paths = {name: timed(name, queue) for name, queue in names.items()}
        blocks = await rates_of(paths, repetitions, redis)
    await redis.aclose()
    return dataclasses.replace(blocks, p50_us=p50_us)


async def relay_rate(settings: Settings, client: Client, within_s: float = 10.0) -> str:
    """What one worker's shadow relay does with the copies the rounds handed off: how
    many it started in ``within_s`` (or until none were left), and at what rate."""
    redis = control_client(settings)
    relay, stop = (
        ShadowRelay(control_client(settings), TemporalBackend(client=client)),
        asyncio.Event(),
    )
    waiting = (await backlog(redis)).waiting
    running = asyncio.create_task(relay.run(stop))
    started = time.perf_counter()
    left = waiting
    while left and time.perf_counter() - started < within_s:
        await asyncio.sleep(0.2)
        left = (await backlog(redis)).waiting
    seconds = time.perf_counter() - started
    stop.set()
    await running
    await relay.aclose()
    await redis.delete(INTENTS_KEY, COPIES_KEY)  # the rest would only slow the next sections
    await redis.aclose()
    done = waiting - left
    return f"{done:,} of {waiting:,} copies started in {seconds:.1f} s ({done / seconds:,.0f}/s)"


def shadow_counts(queue: str) -> dict[str, int]:
    """``queue_router_shadow_total`` of ``queue`` by result, from the metrics registry."""
    return {
        result: int(REGISTRY.get_sample_value(
            "queue_router_shadow_total", {"queue": queue, "result": result}) or 0)
        for result in ("handed_off", "started", "ok", "failed", "dropped")
    }  # fmt: skip


def shadow_table(blocks: Rounds) -> None:
    """``shadow_blocks``' paths, then shadow's jobs/s and CPU a job against Bull mode's,
    beside Bull mode against itself."""
    cpu_table(blocks, "jobs/s")
    bull = ("bull", "bull again (control)")
    paired("bull / bull (the control: this machine's noise)",
           blocks.ratio(bull[1], bull[0]), "1.0")  # fmt: skip
    paired("shadow jobs/s / both bull paths' jobs/s",
           blocks.ratio("shadow, handed off", *bull), "no cost beyond the control's spread")  # fmt: skip
    paired("shadow CPU a job / both bull paths'",
           blocks.ratio("shadow, handed off", *bull, of=blocks.cpu_us),
           "the copy's encoding and its share of a write")  # fmt: skip
    print("  a call's latency, median of each block: "
          + ", ".join(f"{name} {statistics.median(blocks.p50_us[name]):.0f} µs"
                      for name in blocks.p50_us))  # fmt: skip
    paired("bull p50 / bull p50 (the control)",
           blocks.ratio(bull[1], bull[0], of=blocks.p50_us), "1.0")  # fmt: skip
    paired("shadow p50 / both bull paths' p50",
           blocks.ratio("shadow, handed off", *bull, of=blocks.p50_us),
           "1.0 = shadow costs the caller nothing")  # fmt: skip
