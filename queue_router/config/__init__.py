"""Configuration: env vars in, one resolved ``QueueConfig`` per queue out."""

from queue_router.config.catalogue import DEFAULT_CATALOGUE, QueueSpec
from queue_router.config.parts import (
    MigrationSettings,
    RedisSettings,
    RoutingSettings,
    SmtpSettings,
    TemporalSettings,
    WebhookSettings,
    WorkerSettings,
)
from queue_router.config.queues import DefaultJobOptions, QueueConfig, QueueOverride
from queue_router.config.settings import Settings

__all__ = [
    "DEFAULT_CATALOGUE",
    "DefaultJobOptions",
    "MigrationSettings",
    "QueueConfig",
    "QueueOverride",
    "QueueSpec",
    "RedisSettings",
    "RoutingSettings",
    "Settings",
    "SmtpSettings",
    "TemporalSettings",
    "WebhookSettings",
    "WorkerSettings",
]
