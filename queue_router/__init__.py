"""queue-router: one ``enqueue()`` over Bull, RQ and Temporal, for zero-downtime migration.

The public surface is re-exported here; everything else is an implementation detail.
Imports go one way: ``backends`` import only leaf modules (``contract``, ``receipts``,
``errors``, ``connections`` ..., listed in ``tests/unit/test_imports.py``); the router
never imports a backend (``wiring`` builds them on demand).
"""

from queue_router.config import QueueConfig, Settings
from queue_router.contract import AsyncLifecycle, Backend, EnqueueRequest
from queue_router.errors import (
    BackendUnavailable,
    ConfigError,
    CredentialsRejected,
    EnqueueOutcomeUnknown,
    InvalidJobError,
    NotEnqueuedError,
    PayloadError,
    QueueRouterError,
    StartupError,
    UnknownQueueError,
)
from queue_router.processors import JobContext, processor
from queue_router.receipts import Backoff, Job, JobOptions, Placement, Receipt
from queue_router.router import QueueRouter
from queue_router.routing import Mode, Route, bucket
from queue_router.sync import SyncQueueRouter

__all__ = [
    "AsyncLifecycle",
    "Backend",
    "BackendUnavailable",
    "Backoff",
    "ConfigError",
    "CredentialsRejected",
    "EnqueueOutcomeUnknown",
    "EnqueueRequest",
    "InvalidJobError",
    "Job",
    "JobContext",
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
    "StartupError",
    "SyncQueueRouter",
    "UnknownQueueError",
    "bucket",
    "processor",
]
