"""The small settings objects, one per consumer, each reading its own env vars.

The router reads ``RoutingSettings``, ``RedisSettings`` and ``TemporalSettings``; a
worker adds ``WorkerSettings``, and the reference processors ``SmtpSettings`` and
``WebhookSettings``; the migration commands ``MigrationSettings``. ``Settings``
(``config.settings``) composes them. A field is named after its env var, lower-cased,
so the name in code and the name in a deployment manifest are the same word.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from queue_router.config.catalogue import DEFAULT_CATALOGUE
from queue_router.config.queues import Percentage, QueueOverride
from queue_router.connections.redis_client import RedisTLS, parse_nodes
from queue_router.payload import ENVELOPE_RESERVE

__all__ = [
    "MigrationSettings",
    "RedisSettings",
    "RoutingSettings",
    "SmtpSettings",
    "TemporalSettings",
    "WebhookSettings",
    "WorkerSettings",
]

LegacyChoice = Literal["bull", "rq", "temporal"]


class _Part(BaseSettings):
    model_config = SettingsConfigDict(
        case_sensitive=False, populate_by_name=True, extra="ignore", frozen=True
    )


class RedisSettings(_Part):
    """Where the legacy queues live and how we talk to that Redis."""

    redis_url: str = Field("redis://localhost:6379/0", validation_alias="REDIS_URL", repr=False)
    """The Redis of the Bull/RQ queues, side-effect claims and migration ledger."""
    redis_timeout_ms: int = Field(5000, gt=0, validation_alias="QUEUE_ROUTER_REDIS_TIMEOUT_MS")
    """Socket timeout of one Redis call; past it the write is re-run, never guessed."""
    bull_prefix: str = Field("bull", min_length=1, validation_alias="BULL_PREFIX")
    """Bull key prefix; use a hash tag such as ``{bull}`` on Redis Cluster."""
    rq_serializer: Literal["pickle", "json"] = Field(
        "pickle", validation_alias="QUEUE_ROUTER_RQ_SERIALIZER"
    )
    """Must match the RQ workers' ``--serializer`` (RQ's default is pickle)."""
    list_id_ttl_s: int = Field(7 * 24 * 3600, gt=0, validation_alias="QUEUE_ROUTER_LIST_ID_TTL_S")
    """List backend: how long a pushed job id is remembered (a duplicate within it pushes
    nothing)."""
    require_noeviction: bool = Field(False, validation_alias="QUEUE_ROUTER_REQUIRE_NOEVICTION")
    """Refuse to start (instead of warning) when Redis may evict queue keys."""
    redis_cluster_nodes: str | None = Field(None, validation_alias="REDIS_CLUSTER_NODES")
    """Redis Cluster seeds, ``host:port,host:port``; REDIS_URL then gives only the scheme
    (``rediss://`` for TLS) and the credentials. Bull needs a hash-tagged BULL_PREFIX."""
    redis_tls_ca_cert_path: Path | None = Field(None, validation_alias="REDIS_TLS_CA_CERT_PATH")
    """CA that signed the Redis server's certificate (``rediss://`` URLs); system CAs if unset."""
    redis_tls_cert_path: Path | None = Field(None, validation_alias="REDIS_TLS_CERT_PATH")
    """Our client certificate, for a Redis (or TLS proxy) that requires mutual TLS."""
    redis_tls_key_path: Path | None = Field(None, validation_alias="REDIS_TLS_KEY_PATH")
    """The private key of ``REDIS_TLS_CERT_PATH``."""

    @field_validator("redis_url")
    @classmethod
    def _url(cls, value: str) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "needs a scheme: redis://host:6379/0, rediss:// for TLS, or unix:///path"
            )
        return value

    @field_validator("redis_cluster_nodes")
    @classmethod
    def _nodes(cls, value: str | None) -> str | None:
        if value is not None:
            parse_nodes(value)  # ValueError names the bad part
        return value

    def cluster_nodes(self) -> list[tuple[str, int]]:
        """The cluster's seed nodes; empty for a single Redis."""
        return parse_nodes(self.redis_cluster_nodes) if self.redis_cluster_nodes else []

    def tls(self) -> RedisTLS | None:
        """The TLS files to use, or ``None`` for a plain ``redis://`` connection."""
        if not self.redis_url.startswith("rediss://"):
            return None
        return RedisTLS(
            self.redis_tls_ca_cert_path, self.redis_tls_cert_path, self.redis_tls_key_path
        )

    def tls_paths(self) -> dict[str, Path | None]:
        return {
            "REDIS_TLS_CA_CERT_PATH": self.redis_tls_ca_cert_path,
            "REDIS_TLS_CERT_PATH": self.redis_tls_cert_path,
            "REDIS_TLS_KEY_PATH": self.redis_tls_key_path,
        }


class TemporalSettings(_Part):
    """Where Temporal is, how to authenticate, and how long a start may take."""

    temporal_cluster_url: str = Field(
        "localhost:7233", validation_alias=AliasChoices("TEMPORAL_CLUSTER_URL", "TEMPORAL_ADDRESS")
    )
    """host:port of the Temporal frontend."""
    temporal_namespace: str = Field("default", validation_alias="TEMPORAL_NAMESPACE")
    temporal_task_queue: str = Field("queue-router", validation_alias="TEMPORAL_TASK_QUEUE")
    """Default task queue for every queue's workflows (per-queue override possible)."""
    temporal_tls_enabled: bool = Field(False, validation_alias="TEMPORAL_TLS_ENABLED")
    temporal_server_name: str | None = Field(None, validation_alias="TEMPORAL_SERVER_NAME")
    temporal_server_root_ca_cert_path: Path | None = Field(
        None, validation_alias="TEMPORAL_SERVER_ROOT_CA_CERT_PATH"
    )
    temporal_client_cert_path: Path | None = Field(
        None, validation_alias="TEMPORAL_CLIENT_CERT_PATH"
    )
    temporal_client_private_key_path: Path | None = Field(
        None, validation_alias="TEMPORAL_CLIENT_PRIVATE_KEY_PATH"
    )
    temporal_api_key: SecretStr | None = Field(None, validation_alias="TEMPORAL_API_KEY")
    """Temporal Cloud API key, sent as the Authorization header; never logged or printed."""
    temporal_rpc_timeout_ms: int = Field(
        5000, gt=0, validation_alias="QUEUE_ROUTER_TEMPORAL_TIMEOUT_MS"
    )
    """Deadline of one workflow start; past it the same start is sent again, never guessed."""
    temporal_retry_ms: int = Field(2000, ge=0, validation_alias="QUEUE_ROUTER_TEMPORAL_RETRY_MS")
    """How long the SDK retries an unreachable server before we call Temporal down."""

    def tls_paths(self) -> dict[str, Path | None]:
        return {
            "TEMPORAL_SERVER_ROOT_CA_CERT_PATH": self.temporal_server_root_ca_cert_path,
            "TEMPORAL_CLIENT_CERT_PATH": self.temporal_client_cert_path,
            "TEMPORAL_CLIENT_PRIVATE_KEY_PATH": self.temporal_client_private_key_path,
        }


def domain_var(domain: str) -> str:
    """The env var of a catalogue domain's switch: ``EMAIL_QUEUE_BACKEND`` ..."""
    return f"{domain.upper()}_QUEUE_BACKEND"


class _DomainSwitches(PydanticBaseSettingsSource):
    """Reads ``<DOMAIN>_QUEUE_BACKEND`` for every domain the catalogue names."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        domains = {spec.domain for spec in DEFAULT_CATALOGUE.values()}
        environ = {key.upper(): value for key, value in os.environ.items()}
        found = {d: environ[domain_var(d)] for d in sorted(domains) if domain_var(d) in environ}
        return {"domain_backends": found} if found else {}


class RoutingSettings(_Part):
    """Where each queue's jobs go: modes, percentages, fallback, guard, limits."""

    temporal_traffic_percentage: Percentage | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_TRAFFIC_PERCENTAGE", "TEMPORAL_ROLLOUT")
    )
    """Share of keys routed to Temporal in percentage mode, 0..100, two decimals."""
    use_temporal_workflows: bool = Field(False, validation_alias="USE_TEMPORAL_WORKFLOWS")
    """Legacy switch: true means a percentage of 100."""
    bull_fallback: bool = Field(True, validation_alias="BULL_FALLBACK")
    """Send a job to the legacy queue when a Temporal start definitely failed."""
    temporal_dual_write: bool = Field(False, validation_alias="TEMPORAL_DUAL_WRITE")
    """Global mode dual: every job written to legacy and Temporal with one job id."""
    temporal_shadow_mode: bool = Field(False, validation_alias="TEMPORAL_SHADOW_MODE")
    """Global mode shadow: legacy is real; Temporal runs a side-effect-free copy."""
    domain_backends: dict[str, LegacyChoice] = Field(default_factory=dict)
    """``<DOMAIN>_QUEUE_BACKEND`` per catalogue domain (``EMAIL_QUEUE_BACKEND=temporal``)."""
    legacy_backend: Literal["bull", "rq"] = Field(
        "bull", validation_alias="QUEUE_ROUTER_LEGACY_BACKEND"
    )
    """Legacy backend of every queue unless its override says otherwise."""
    rq_function: str = Field(
        "activities.legacy.run_rq_job", validation_alias="QUEUE_ROUTER_RQ_FUNCTION"
    )
    """Dotted path of the function RQ jobs call (per-queue override possible)."""
    guard_failures: int = Field(5, ge=0, validation_alias="QUEUE_ROUTER_GUARD_FAILURES")
    """Definite Temporal failures in a row that open the rollback guard (0 disables it)."""
    guard_cooldown_ms: int = Field(30_000, gt=0, validation_alias="QUEUE_ROUTER_GUARD_COOLDOWN_MS")
    """How long an open guard sends Temporal-bound jobs to legacy before probing again."""
    queues: dict[str, QueueOverride] = Field(
        default_factory=dict, validation_alias="QUEUE_ROUTER_QUEUES"
    )
    """Per-queue overrides, JSON: ``{"<queue>": {"mode": ..., "percentage": ...}}``."""
    max_payload_bytes: int = Field(
        2 * 1024 * 1024, gt=ENVELOPE_RESERVE, validation_alias="QUEUE_ROUTER_MAX_PAYLOAD_BYTES"
    )
    """Size limit of a job as Temporal sees it (Temporal's own is 2 MB); 4 KiB of it is
    kept for the envelope, the rest is the most JSON data a job may carry."""
    shadow_max_in_flight: int = Field(
        100, gt=0, validation_alias="QUEUE_ROUTER_SHADOW_MAX_IN_FLIGHT"
    )
    """Shadow copies a router starts in-process at once; past it new ones are dropped and
    counted."""
    shadow_starts: Literal["worker", "in-process"] = Field(
        "worker", validation_alias="QUEUE_ROUTER_SHADOW_STARTS"
    )
    """Who starts a shadow copy: ``worker`` hands it to ``queue-router worker`` through
    Redis (the caller's process pays a few microseconds, not a Temporal start's
    millisecond of CPU); ``in-process`` starts it in the router's process. A router given
    its backends directly (tests) has no Redis to hand off to and starts in-process."""
    shadow_max_waiting: int = Field(
        10_000, gt=0, validation_alias="QUEUE_ROUTER_SHADOW_MAX_WAITING"
    )
    """Shadow copies a router holds while their write to Redis is under way (each its
    job's request and data, encoded only when written); past it new ones are dropped and
    counted (Redis slow or gone)."""
    shadow_max_waiting_bytes: int = Field(
        64 * 1024 * 1024, gt=0, validation_alias="QUEUE_ROUTER_SHADOW_MAX_WAITING_BYTES"
    )
    """The same bound in bytes of those copies' payload JSON: 10,000 copies of 2 MB
    payloads would be 20 GB."""
    shadow_backlog_max: int = Field(
        100_000, gt=0, validation_alias="QUEUE_ROUTER_SHADOW_BACKLOG_MAX"
    )
    """Handed-off shadow copies Redis may hold for the workers; past it new ones are
    dropped and counted (no worker running, or Temporal down for long)."""
    shadow_backlog_max_bytes: int = Field(
        256 * 1024 * 1024, gt=0, validation_alias="QUEUE_ROUTER_SHADOW_BACKLOG_MAX_BYTES"
    )
    """The same bound in bytes of those copies: the Redis holding them holds the real
    jobs too, and refuses them once full."""
    placement_ttl_s: int = Field(
        7 * 24 * 3600, gt=0, validation_alias="QUEUE_ROUTER_PLACEMENT_TTL_S"
    )
    """How long Redis remembers that Temporal holds (or may hold) a job id, so that no
    process ever falls back with it; must exceed every caller's retry window."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _DomainSwitches(settings_cls), file_secret_settings)

    @property
    def percentage(self) -> float:
        """The global percentage after the legacy ``USE_TEMPORAL_WORKFLOWS`` switch."""
        if self.use_temporal_workflows:
            return 100.0
        return self.temporal_traffic_percentage or 0.0


class WorkerSettings(_Part):
    """What a worker runs and how: processors, concurrency, build id, effect claims."""

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
    temporal_worker_deployment_name: str | None = Field(
        None, min_length=1, validation_alias="TEMPORAL_WORKER_DEPLOYMENT_NAME"
    )
    """With a build id: the worker registers ``WorkerDeploymentVersion(name, build id)`` and
    runs versioned (job workflows auto-upgrade, approval and alert workflows are pinned)."""
    list_worker_heartbeat_s: int = Field(
        30, gt=0, validation_alias="QUEUE_ROUTER_LIST_WORKER_HEARTBEAT_S"
    )
    """A ``list-worker`` silent this long is dead: the next one puts its element back."""
    worker_shutdown_grace_ms: int = Field(
        30_000, ge=0, validation_alias="QUEUE_ROUTER_WORKER_SHUTDOWN_GRACE_MS"
    )
    """On SIGTERM/SIGINT, how long in-flight activities may take to finish."""
    shadow_retry_ms: int = Field(30_000, gt=0, validation_alias="QUEUE_ROUTER_SHADOW_RETRY_MS")
    """How long a handed-off shadow copy stays with a worker that did not start it (killed,
    or Temporal unreachable) before any worker takes it again."""

    @model_validator(mode="after")
    def _deployment_needs_a_build(self) -> Self:
        if self.temporal_worker_deployment_name and not self.temporal_worker_build_id:
            raise ValueError(
                "TEMPORAL_WORKER_DEPLOYMENT_NAME needs TEMPORAL_WORKER_BUILD_ID (or --build-id): "
                "a deployment version is a deployment name and a build id"
            )
        return self

    @property
    def processor_modules(self) -> list[str]:
        return [name.strip() for name in self.processors.split(",") if name.strip()]


class SmtpSettings(_Part):
    """The SMTP server of the reference email processor (``activities.email``)."""

    smtp_host: str = Field("localhost", validation_alias="SMTP_HOST")
    smtp_port: int = Field(25, gt=0, lt=65536, validation_alias="SMTP_PORT")
    smtp_username: str | None = Field(None, validation_alias="SMTP_USERNAME")
    smtp_password: SecretStr | None = Field(None, validation_alias="SMTP_PASSWORD")
    smtp_starttls: bool = Field(False, validation_alias="SMTP_STARTTLS")
    """Upgrade the connection with STARTTLS before logging in."""
    smtp_from: str = Field("queue-router@localhost", validation_alias="SMTP_FROM")
    """Sender address when a job does not name one."""
    smtp_timeout_ms: int = Field(10_000, gt=0, validation_alias="SMTP_TIMEOUT_MS")


class WebhookSettings(_Part):
    """Signing and timeouts of the reference webhook processor (``activities.webhook``)."""

    webhook_signing_secret: SecretStr | None = Field(
        None, validation_alias="WEBHOOK_SIGNING_SECRET"
    )
    """HMAC-SHA256 key of the signature header; without it nothing is sent unsigned."""
    webhook_timeout_ms: int = Field(10_000, gt=0, validation_alias="WEBHOOK_TIMEOUT_MS")


class MigrationSettings(_Part):
    """Defaults of ``queue-router migrate`` (each has a command-line flag too)."""

    migration_dry_run: bool = Field(False, validation_alias="MIGRATION_DRY_RUN")
    """``migrate`` validates every job and writes nothing (same as ``--dry-run``)."""
    migration_batch_size: int = Field(50, gt=0, validation_alias="MIGRATION_BATCH_SIZE")
    """Jobs per migration batch (``--batch-size``)."""
    migration_max_jobs: int = Field(0, ge=0, validation_alias="MIGRATION_MAX_JOBS")
    """Most jobs one ``migrate`` run moves; 0 = all (``--max-jobs``)."""
