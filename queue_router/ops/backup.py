"""``backup`` / ``restore`` of one Bull queue as JSON lines, byte-for-byte in its hashes.

Line 1 is a header: format, prefix, queue, whether it was paused, the id counter, and
every container (wait/paused/active lists in order, delayed/priority/completed/failed
zsets with their exact scores). Each further line is one job: ``{"id", "hash"}``. Restore
writes it all in one MULTI/EXEC into a Redis that has no keys of that queue, so a
restore is all or nothing and never mixes with live jobs.
"""

from __future__ import annotations

import json
import time
from typing import Any, TextIO

from queue_router.connections.redis_client import AsyncRedis
from queue_router.errors import ConfigError

__all__ = ["FORMAT", "backup", "restore"]

FORMAT = "queue-router-backup/1"
_LISTS = ("wait", "paused", "active")
_ZSETS = ("delayed", "priority", "completed", "failed")


async def backup(client: AsyncRedis, prefix: str, queue: str, out: TextIO) -> int:
    """Write the queue to ``out``; returns the number of jobs."""
    key = f"{prefix}:{queue}:".__add__
    lists = {name: [str(i) for i in await client.lrange(key(name), 0, -1)] for name in _LISTS}
    zsets: dict[str, list[list[str]]] = {}
    for name in _ZSETS:
        entries = await client.zrange(key(name), 0, -1, withscores=True, score_cast_func=_text)
        zsets[name] = [[str(part) for part in entry] for entry in entries]
    header = {
        "format": FORMAT, "source": "bull", "prefix": prefix, "queue": queue,
        "created_at_ms": int(time.time() * 1000),
        "paused": bool(await client.exists(key("meta-paused"))),
        "id_counter": await client.get(key("id")), "lists": lists, "zsets": zsets,
    }  # fmt: skip
    out.write(json.dumps(header, ensure_ascii=False) + "\n")
    ids = dict.fromkeys([*(i for ids in lists.values() for i in ids),
                         *(m for pairs in zsets.values() for m, _ in pairs)])  # fmt: skip
    count = 0
    for job_id in ids:
        fields = await client.hgetall(key(job_id))
        if fields:
            out.write(json.dumps({"id": job_id, "hash": fields}, ensure_ascii=False) + "\n")
            count += 1
    return count


async def restore(client: AsyncRedis, source: TextIO) -> tuple[str, int]:
    """Restore a backup into a Redis without that queue; returns (queue, jobs)."""
    header = _header(source.readline())
    prefix, queue = header["prefix"], header["queue"]
    existing = [k async for k in client.scan_iter(f"{prefix}:{queue}:*", count=1000)]
    if existing:
        raise ConfigError(
            f"restore: queue {queue!r} (prefix {prefix!r}) already has {len(existing)} keys, "
            f"e.g. {sorted(existing)[0]!r}; restore only into a Redis without that queue"
        )
    jobs = [_job(line, n) for n, line in enumerate(source, start=2) if line.strip()]
    key = f"{prefix}:{queue}:".__add__
    async with client.pipeline(transaction=True) as pipe:
        for job in jobs:
            pipe.hset(key(job["id"]), mapping=job["hash"])
        for name, ids in header["lists"].items():
            if ids:
                pipe.rpush(key(name), *ids)
        for name, pairs in header["zsets"].items():
            if pairs:
                # Scores as Redis printed them: a delayed score has 16 digits.
                pipe.zadd(key(name), dict(pairs))
        if header.get("id_counter") is not None:
            pipe.set(key("id"), header["id_counter"])
        if header.get("paused"):
            pipe.set(key("meta-paused"), 1)
            pipe.hset(key("meta"), "paused", 1)
        await pipe.execute()
    return queue, len(jobs)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _header(line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise ConfigError(f"restore: line 1 is not a backup header: {exc}") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ConfigError(f"restore: line 1 is not a {FORMAT} header")
    return header


def _job(line: str, number: int) -> dict[str, Any]:
    try:
        job = json.loads(line)
        if not isinstance(job["id"], str) or not isinstance(job["hash"], dict):
            raise ValueError("needs a string 'id' and an object 'hash'")
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"restore: line {number} is not a job: {exc}") from None
    return dict(job)
