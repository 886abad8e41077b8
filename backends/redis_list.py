"""``ListBackend``: jobs for a consumer that ``BRPOP``s a plain Redis list.

Some legacy systems are not Bull or RQ: a service ``LPUSH``es JSON onto a list and a
worker ``BRPOP``s it. The element we push is exactly the job's data as JSON, so that
consumer reads what it read before (or, with ``list_envelope``, ``{"job_id", "queue",
"data", "options"}`` for consumers that want ids).

``LPUSH`` is not idempotent, so the push runs in one Lua script with a marker for the job
id (``queue-router:list-id:{<list>}:<job_id>``, set-if-absent with a TTL,
``QUEUE_ROUTER_LIST_ID_TTL_S``): the same job id again pushes nothing and the receipt says
``existing``; an ambiguous push is settled by running the same script again. The marker
shares the list's hash slot, so the script works on Redis Cluster too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from importlib import resources

from backends._redis import async_client, check_credentials, eviction_preflight, write_or_classify
from queue_router.connections.redis_client import AsyncRedis, RedisTLS
from queue_router.contract import Backend, EnqueueRequest
from queue_router.receipts import Placement

__all__ = ["ListBackend", "list_element", "marker_key", "slot_tag"]

_PUSH = resources.files("backends").joinpath("list_push.lua").read_text()
_TAG = re.compile(r"\{([^}]+)\}")


def slot_tag(list_key: str) -> str:
    """``{tag}`` that puts a key in the list's hash slot: the list's own tag, or its name."""
    tag = _TAG.search(list_key)
    return f"{{{tag.group(1) if tag else list_key}}}"


def marker_key(list_key: str, job_id: str) -> str:
    """The job id's marker, in the list's hash slot."""
    return f"queue-router:list-id:{slot_tag(list_key)}:{job_id}"


def list_element(request: EnqueueRequest) -> str:
    """What the consumer pops: the data as it was encoded, or the envelope."""
    if not request.list_envelope:
        return request.data_json
    return json.dumps({"job_id": request.job_id, "queue": request.queue,
                       "data": request.data, "options": request.options.to_bull()},
                      separators=(",", ":"))  # fmt: skip


class ListBackend(Backend):
    """Pushes onto ``request.list_key`` (the queue's ``list_key``, default its name).

    Args:
        redis_url: where the lists live.
        id_ttl_s: how long a job id is remembered, i.e. how late a duplicate is caught.
        timeout_s: socket timeout; past it the same idempotent push is run again.
        require_noeviction: refuse to start when Redis may evict keys.
        tls: CA, certificate and key files for a ``rediss://`` URL.
        cluster_nodes: Redis Cluster seeds.
    """

    name = "list"

    def __init__(
        self,
        redis_url: str = "redis://localhost:6379/0",
        *,
        id_ttl_s: int = 7 * 24 * 3600,
        timeout_s: float = 5.0,
        require_noeviction: bool = False,
        tls: RedisTLS | None = None,
        cluster_nodes: Sequence[tuple[str, int]] = (),
    ) -> None:
        self._url = redis_url
        self._ttl = id_ttl_s
        self._redis: AsyncRedis = async_client(
            redis_url, timeout_s, tls=tls, cluster_nodes=cluster_nodes
        )
        self._require_noeviction = require_noeviction
        self._script = self._redis.register_script(_PUSH)

    async def startup(self) -> None:
        await check_credentials(self.name, self._url, self._redis.ping)
        await eviction_preflight(
            lambda: self._redis.config_get("maxmemory-policy"), require=self._require_noeviction
        )

    async def aclose(self) -> None:
        await self._redis.aclose()

    async def enqueue(self, request: EnqueueRequest) -> Placement:
        list_key = request.list_key or request.queue
        keys = [list_key, marker_key(list_key, request.job_id)]
        args: list[str | int] = [list_element(request), self._ttl]

        async def push() -> int:
            return int(await self._script(keys=keys, args=args))

        pushed = await write_or_classify(self.name, request.job_id, self._url, push)
        return Placement(backend=self.name, job_id=request.job_id, existing=not pushed,
                         detail={"list": list_key})  # fmt: skip
