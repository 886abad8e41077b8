"""Settings of workers and operator commands: processors, effect claims, SMTP, webhooks, migration.

Kept apart from the routing settings so each module reads in one sitting; ``Settings``
inherits these fields, so one ``Settings.from_env()`` validates everything.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings

__all__ = ["WorkerSettings"]


class WorkerSettings(BaseSettings):
    """Worker-side fields; each documents its env var."""

    processors: str = Field(
        "activities.email,activities.webhook", validation_alias="QUEUE_ROUTER_PROCESSORS"
    )
    """Comma-separated modules whose ``@processor`` functions the workers run."""
    effect_lease_ms: int = Field(300_000, gt=0, validation_alias="QUEUE_ROUTER_EFFECT_LEASE_MS")
    """How long a side-effect claim is held if its owner dies; must exceed the effect."""
    effect_ttl_s: int = Field(7 * 24 * 3600, gt=0, validation_alias="QUEUE_ROUTER_EFFECT_TTL_S")
    """How long a performed effect is remembered, i.e. how late a duplicate run is caught."""

    temporal_max_concurrent_workflow_tasks: int | None = Field(
        None, gt=0, validation_alias="TEMPORAL_MAX_CONCURRENT_WORKFLOW_TASKS"
    )
    """Workflow tasks one worker runs at once (SDK default when unset)."""
    temporal_max_concurrent_activities: int | None = Field(
        None, gt=0, validation_alias="TEMPORAL_MAX_CONCURRENT_ACTIVITIES"
    )
    """Activities (processor runs) one worker runs at once (SDK default when unset)."""
    temporal_worker_build_id: str | None = Field(
        None, min_length=1, validation_alias="TEMPORAL_WORKER_BUILD_ID"
    )
    """Build id the worker reports, for worker versioning and for telling builds apart."""
    worker_shutdown_grace_ms: int = Field(
        30_000, ge=0, validation_alias="QUEUE_ROUTER_WORKER_SHUTDOWN_GRACE_MS"
    )
    """On SIGTERM/SIGINT, how long in-flight activities may take to finish."""

    smtp_host: str = Field("localhost", validation_alias="SMTP_HOST")
    """SMTP server of the reference email processor."""
    smtp_port: int = Field(25, gt=0, lt=65536, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, validation_alias="SMTP_STARTTLS")
    """Upgrade the connection with STARTTLS before logging in."""
    smtp_from: str = Field("queue-router@localhost", validation_alias="SMTP_FROM")
    """Sender address when a job does not name one."""
    smtp_timeout_ms: int = Field(10_000, gt=0, validation_alias="SMTP_TIMEOUT_MS")

    webhook_signing_secret: SecretStr | None = Field(
        None, validation_alias="WEBHOOK_SIGNING_SECRET"
    )
    """HMAC-SHA256 key of the reference webhook processor's signature header."""
    webhook_timeout_ms: int = Field(10_000, gt=0, validation_alias="WEBHOOK_TIMEOUT_MS")

    migration_dry_run: bool = Field(False, validation_alias="MIGRATION_DRY_RUN")
    """``migrate`` validates every job and writes nothing (same as ``--dry-run``)."""
    migration_batch_size: int = Field(50, gt=0, validation_alias="MIGRATION_BATCH_SIZE")
    """Jobs per migration batch (``--batch-size``)."""
    migration_max_jobs: int = Field(0, ge=0, validation_alias="MIGRATION_MAX_JOBS")
    """Most jobs one ``migrate`` run moves; 0 = all (``--max-jobs``)."""

    @property
    def processor_modules(self) -> list[str]:
        return [name.strip() for name in self.processors.split(",") if name.strip()]
