"""``SyncQueueRouter``: the same router for blocking code (Django, Flask, scripts).

It owns one event loop on a background thread, so connections are reused across calls
and shadow copies keep running between them, and each call blocks until its receipt
(or error) is ready. Same semantics, same exceptions as the async router.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Coroutine, Iterable
from types import TracebackType
from typing import Any, Self, TypeVar

from queue_router.errors import QueueRouterError
from queue_router.many import CHUNK
from queue_router.receipts import Job, JobOptions, Receipt
from queue_router.router import QueueRouter
from queue_router.routing import Route

T = TypeVar("T")

__all__ = ["SyncQueueRouter"]


class SyncQueueRouter:
    """Blocking sibling of ``QueueRouter``; use as a context manager or call ``close()``.

    Args:
        router: the async router it drives; its ``startup()`` runs now, and if that
            raises, the loop thread is stopped before the error reaches the caller.
    """

    def __init__(self, router: QueueRouter) -> None:
        self.router = router
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="queue-router-loop", daemon=True
        )
        self._thread.start()
        self._closed = False
        try:
            self._run(router.startup())
        except BaseException:
            self._stop_loop()
            raise

    @classmethod
    def from_env(cls, **overrides: Any) -> SyncQueueRouter:
        """A blocking router configured from env vars; bad settings raise ``ConfigError``."""
        return cls(QueueRouter.from_env(**overrides))

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise RuntimeError("SyncQueueRouter is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def enqueue_sync(
        self,
        queue: str,
        data: Any,
        *,
        key: str | None = None,
        job_id: str | None = None,
        name: str | None = None,
        options: JobOptions | None = None,
    ) -> Receipt:
        """``QueueRouter.enqueue``, blocking."""
        return self._run(
            self.router.enqueue(queue, data, key=key, job_id=job_id, name=name, options=options)
        )

    def route(self, queue: str, key: str) -> Route:
        return self.router.route(queue, key)

    def enqueue_many_sync(
        self, queue: str, jobs: Iterable[Job], *, concurrency: int = 50
    ) -> list[Receipt | QueueRouterError]:
        """``QueueRouter.enqueue_many``, blocking.

        ``jobs`` is read here, in the caller's thread (an iterator over a database cursor
        may be bound to it), ``CHUNK`` jobs at a time, each chunk placed before the next
        is read: a million jobs are never all in memory at once.
        """
        results: list[Receipt | QueueRouterError] = []
        remaining = iter(jobs)
        while chunk := list(itertools.islice(remaining, CHUNK)):
            placing = self.router.enqueue_many(queue, chunk, concurrency=concurrency)
            results.extend(self._run(placing))
        return results

    def close(self) -> None:
        """Drain shadow work, close connections, stop the loop thread."""
        if self._closed:
            return
        try:
            self._run(self.router.aclose())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
