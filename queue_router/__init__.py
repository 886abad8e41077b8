"""queue-router: one ``enqueue()`` over Bull, RQ and Temporal, for zero-downtime migration.

The public surface is re-exported here; everything else is an implementation detail.
"""

from queue_router.errors import (
    BackendUnavailable,
    ConfigError,
    EnqueueOutcomeUnknown,
    NotEnqueuedError,
    PayloadError,
    QueueRouterError,
    UnknownQueueError,
)
from queue_router.receipts import Backoff, JobOptions, Placement, Receipt
from queue_router.router import QueueRouter
from queue_router.routing import Mode, Route, bucket
from queue_router.settings import QueueConfig, Settings
from queue_router.sync import SyncQueueRouter

__all__ = [
    "BackendUnavailable",
    "Backoff",
    "ConfigError",
    "EnqueueOutcomeUnknown",
    "JobOptions",
    "Mode",
    "NotEnqueuedError",
    "PayloadError",
    "Placement",
    "QueueConfig",
    "QueueRouter",
    "QueueRouterError",
    "Receipt",
    "Route",
    "Settings",
    "SyncQueueRouter",
    "UnknownQueueError",
    "bucket",
]
