"""Helpers for tests and local development, kept out of the production path.

``devservers``: a real redis-server and Temporal dev server on free ports (the test
fixtures and ``make demo`` use them); ``memory``: ``MemoryBackend`` for users' own
unit tests; ``demo``: the ``make demo`` job. As ``temporalio.testing`` is to the SDK.
"""

from queue_router.testing.memory import MemoryBackend, StoredJob

__all__ = ["MemoryBackend", "StoredJob"]
