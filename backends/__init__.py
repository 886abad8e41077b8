"""Backends: one class per system, behind the one contract in ``backends.base``."""

from backends.base import Backend, EnqueueRequest
from backends.bull import BullBackend
from backends.memory import MemoryBackend
from backends.rq import RQBackend
from backends.temporal import TemporalBackend

__all__ = [
    "Backend",
    "BullBackend",
    "EnqueueRequest",
    "MemoryBackend",
    "RQBackend",
    "TemporalBackend",
]
