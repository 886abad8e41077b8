"""What the two Redis backends (Bull and RQ) share: client settings, error triage, preflight.

redis-py retries commands by default; we turn that off and resolve doubt ourselves: after
an ambiguous failure (a timeout or a connection lost after the command left) the same
idempotent write is run again until Redis answers. A lookup would race nothing here, but
a re-run is the one rule for every backend, and its answer ("added" or "already there")
is definite. A refused re-run says nothing about the first attempt: the outcome stays
unknown. Rejected credentials are a configuration problem, reported as such at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import redis
from redis.exceptions import AuthenticationError, AuthorizationError, NoPermissionError

from queue_router.connections.diagnose import redis_tls_hint
from queue_router.connections.redact import redact_url
from queue_router.connections.redis_client import ConnectionSetupError, async_client, sync_client
from queue_router.errors import (
    BackendUnavailable,
    CredentialsRejected,
    EnqueueOutcomeUnknown,
    QueueRouterError,
    StartupError,
)

log = logging.getLogger("queue_router.redis")

T = TypeVar("T")

__all__ = [
    "after_failure",
    "async_client",
    "check_credentials",
    "eviction_preflight",
    "refused",
    "sync_client",
    "write_or_classify",
]

RESENDS = 3
"""How many times an ambiguous write is re-run before the outcome is reported unknown."""


def never_connected(exc: BaseException) -> bool:
    """True when the command provably never reached Redis.

    Refused or unresolvable connects, a connection dropped during its setup (e.g. a
    refused TLS certificate), a server still loading its data, and a pool with no free
    connection: in each case no byte of the command was sent.
    """
    if isinstance(exc, redis.BusyLoadingError | redis.MaxConnectionsError | ConnectionSetupError):
        return True
    text = str(exc)
    return isinstance(exc, redis.ConnectionError) and any(
        marker in text
        for marker in ("connecting to", "Connection refused", "No connection available")
    )


def credentials_problem(exc: BaseException) -> bool:
    """Wrong password or user, or an ACL that forbids the command: nothing ran."""
    return isinstance(exc, AuthenticationError | AuthorizationError | NoPermissionError)


def rejected(backend: str, url: str, exc: BaseException) -> CredentialsRejected:
    kind = "permission denied" if isinstance(exc, NoPermissionError) else "authentication"
    return CredentialsRejected(
        backend,
        f"Redis at REDIS_URL={redact_url(url)} refused our credentials ({kind} failed: "
        f"{type(exc).__name__}); nothing was written: fix the user/password in REDIS_URL",
    )


def half_run(exc: BaseException) -> bool:
    """A Lua script that failed while running (e.g. WRONGTYPE on a damaged key).

    Redis does not roll a script back: the writes before the failing call stay. Every
    other error reply is given before anything runs (unknown script, credentials,
    out of memory, read-only replica ...).
    """
    return isinstance(exc, redis.ResponseError) and "user_script" in str(exc)


def refused(backend: str, url: str, job_id: str, reply: Exception) -> QueueRouterError:
    """What an error reply to one job's write means for the contract."""
    if credentials_problem(reply):
        return rejected(backend, url, reply)
    if half_run(reply):
        return EnqueueOutcomeUnknown(
            backend, job_id,
            f"the write failed part-way ({reply}); fix the key it names, then enqueue the "
            "job again with the same job id",
            cause=reply,
        )  # fmt: skip
    return BackendUnavailable(backend, f"Redis rejected the write: {reply}", cause=reply)


async def write_or_classify(
    backend: str, job_id: str, url: str, write: Callable[[], Awaitable[T]]
) -> T:
    """Run the idempotent ``write``; after an ambiguous failure, run it again.

    Returns the write's result (from the first attempt that got an answer). Raises
    ``BackendUnavailable`` when no attempt can have reached Redis or Redis refused the
    first one, ``CredentialsRejected`` when it refused our credentials, and
    ``EnqueueOutcomeUnknown`` when an attempt may have landed and no re-run got an answer.
    """
    try:
        return await write()
    except QueueRouterError:
        raise
    except (redis.RedisError, OSError) as exc:
        return await after_failure(backend, job_id, url, write, exc)


async def after_failure(
    backend: str, job_id: str, url: str, write: Callable[[], Awaitable[T]], first: BaseException
) -> T:
    """What ``write_or_classify`` does once the first attempt of ``write`` raised ``first``.

    Apart so that a hot path can make its first attempt inline (one coroutine less per
    write) and hand only a failure here.
    """
    doubt: BaseException | None = None
    last: BaseException = first
    for attempt in range(RESENDS + 1):
        if attempt:
            await asyncio.sleep(0.05 * 2**attempt)
            try:
                return await write()
            except QueueRouterError:
                raise
            except (redis.RedisError, OSError) as exc:
                last = exc
        if credentials_problem(last) and doubt is None:
            raise rejected(backend, url, last) from last
        if isinstance(last, redis.ResponseError) and doubt is None:
            raise refused(backend, url, job_id, last) from last
        if never_connected(last):
            if doubt is None:
                reason = f"Redis unreachable: {last}{redis_tls_hint(last, url)}"
                raise BackendUnavailable(backend, reason, cause=last) from last
            continue  # a refused re-run says nothing about the first attempt
        doubt = doubt or last
    raise EnqueueOutcomeUnknown(
        backend,
        job_id,
        f"{doubt}; re-running the write {RESENDS} times got no answer (last: {last})",
        cause=doubt,
    ) from doubt


async def check_credentials(backend: str, url: str, ping: Callable[[], Awaitable[Any]]) -> None:
    """At startup: a wrong password or TLS setting fails now, not on every job.

    A Redis that is down is fine here: each enqueue reports that itself.
    """
    try:
        await ping()
    except (redis.RedisError, OSError) as exc:
        if isinstance(exc, AuthenticationError | AuthorizationError):
            raise rejected(backend, url, exc) from exc
        hint = redis_tls_hint(exc, url)
        if hint:  # the server answered and refused the TLS session: no retry will help
            raise CredentialsRejected(
                backend, f"TLS with Redis at REDIS_URL={redact_url(url)} failed{hint} ({exc})"
            ) from exc


async def eviction_preflight(
    config_get: Callable[[], Awaitable[Mapping[Any, Any]]], *, require: bool
) -> None:
    """Warn, or refuse when ``require``, if Redis may evict queue keys (jobs would vanish).

    A Redis that is down now, or that does not let us read its config (managed services,
    ACLs), is not an error here: each enqueue reports what it meets itself.
    """
    try:
        config = await config_get()
    except (redis.RedisError, OSError):
        return
    policy = str(config.get("maxmemory-policy", ""))
    if policy == "noeviction":
        return
    message = (
        f"Redis maxmemory-policy is {policy!r}: under memory pressure Redis may evict job "
        "keys and lose jobs; set it to 'noeviction'"
    )
    if require:
        raise StartupError(f"{message} (QUEUE_ROUTER_REQUIRE_NOEVICTION=true)")
    log.warning(message)
