"""Backends: one class per system, behind the one contract in ``queue_router.contract``."""

from backends.bull import BullBackend
from backends.redis_list import ListBackend
from backends.rq import RQBackend
from backends.temporal import TemporalBackend
from queue_router.contract import Backend, EnqueueRequest
from queue_router.testing.memory import MemoryBackend

__all__ = [
    "Backend",
    "BullBackend",
    "EnqueueRequest",
    "ListBackend",
    "MemoryBackend",
    "RQBackend",
    "TemporalBackend",
]
