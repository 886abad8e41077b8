"""The embedded servers the tests, the demo and the benchmarks start."""

from __future__ import annotations

import redis

from queue_router.testing.devservers import RedisServer


def appendfsync_of(server: RedisServer) -> str:
    client = redis.Redis.from_url(server.url, decode_responses=True)
    try:
        said: dict[str, str] = client.config_get("appendfsync")  # type: ignore[assignment]
        return said["appendfsync"]
    finally:
        client.close()


def test_a_test_redis_syncs_every_write_and_a_benchmark_redis_as_it_asks() -> None:
    """The fault tests count on a killed Redis keeping every acknowledged write; the
    benchmarks ask for Redis's own AOF default, like the dev server beside them."""
    with RedisServer() as for_tests, RedisServer(appendfsync="everysec") as for_benchmarks:
        assert appendfsync_of(for_tests) == "always"
        assert appendfsync_of(for_benchmarks) == "everysec"
