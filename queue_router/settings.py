"""Settings from env vars (pydantic-settings), resolved into one ``QueueConfig`` per queue.

Env var names are the ones teams already use in their migration guides. Precedence for
a queue's mode and percentage, highest first:

1. ``QUEUE_ROUTER_QUEUES`` (JSON, per queue): ``{"email-send": {"mode": "percentage",
   "percentage": 25}}``; it can also add queues that are not in the catalogue.
2. The domain switch ``<DOMAIN>_QUEUE_BACKEND`` (``bull`` / ``rq`` / ``temporal``).
3. The global switches: ``TEMPORAL_SHADOW_MODE`` -> shadow, ``TEMPORAL_DUAL_WRITE`` ->
   dual, otherwise percentage with ``TEMPORAL_TRAFFIC_PERCENTAGE`` (alias
   ``TEMPORAL_ROLLOUT``; ``USE_TEMPORAL_WORKFLOWS=true`` means 100).

Every problem is reported by ``Settings.from_env()`` before any connection is made, as a
``ConfigError`` naming the env var and the allowed values.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_settings import SettingsConfigDict, SettingsError

from queue_router.catalogue import DEFAULT_CATALOGUE
from queue_router.errors import ConfigError, UnknownQueueError
from queue_router.payload import ENVELOPE_RESERVE
from queue_router.receipts import Backoff, JobOptions
from queue_router.routing import Mode, Route, decide
from queue_router.worker_settings import WorkerSettings

__all__ = ["DefaultJobOptions", "QueueConfig", "QueueOverride", "Settings"]

Percentage = Annotated[float, Field(ge=0, le=100, multiple_of=0.01)]


class DefaultJobOptions(BaseModel):
    """A queue's ``defaultJobOptions``, in Bull's own JSON names, applied by the producer."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    attempts: int | None = Field(None, ge=1)
    backoff: int | dict[str, Any] | None = None
    timeout: int | None = Field(None, gt=0)
    remove_on_complete: bool | int | None = Field(None, alias="removeOnComplete")
    remove_on_fail: bool | int | None = Field(None, alias="removeOnFail")
    lifo: bool | None = None
    priority: int | None = Field(None, ge=1)

    def backoff_value(self) -> Backoff | None:
        """Bull normalises a bare number to ``{"type": "fixed", "delay": n}``."""
        if self.backoff is None:
            return None
        if isinstance(self.backoff, int):
            return Backoff("fixed", self.backoff)
        kind = self.backoff.get("type", "fixed")
        if kind not in ("fixed", "exponential"):
            raise ValueError(f"backoff.type must be 'fixed' or 'exponential', got {kind!r}")
        return Backoff(kind, int(self.backoff.get("delay", 0)))


class QueueOverride(BaseModel):
    """One queue's entry in ``QUEUE_ROUTER_QUEUES``; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = None
    percentage: Percentage | None = None
    workflow_type: str | None = None
    task_queue: str | None = None
    legacy: Literal["bull", "rq"] | None = None
    rq_function: str | None = None
    job_name: str | None = None
    default_job_options: DefaultJobOptions | None = None


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """Everything the router needs about one queue, after precedence is applied."""

    name: str
    mode: Mode
    percentage: float
    workflow_type: str
    task_queue: str
    legacy: str
    rq_function: str
    job_name: str
    defaults: JobOptions

    def route(self, key: str) -> Route:
        """Where ``key`` goes on this queue now: a pure function, no I/O."""
        return decide(
            queue=self.name, key=key, mode=self.mode, percentage=self.percentage, legacy=self.legacy
        )


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(WorkerSettings):
    """All settings; each field documents its env var (worker fields: ``WorkerSettings``)."""

    model_config = SettingsConfigDict(
        case_sensitive=False, populate_by_name=True, extra="ignore", frozen=True
    )

    temporal_traffic_percentage: Percentage | None = Field(
        None, validation_alias=_env("TEMPORAL_TRAFFIC_PERCENTAGE", "TEMPORAL_ROLLOUT")
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

    email_queue_backend: Literal["bull", "rq", "temporal"] | None = Field(
        None, validation_alias="EMAIL_QUEUE_BACKEND"
    )
    document_queue_backend: Literal["bull", "rq", "temporal"] | None = Field(
        None, validation_alias="DOCUMENT_QUEUE_BACKEND"
    )
    ai_queue_backend: Literal["bull", "rq", "temporal"] | None = Field(
        None, validation_alias="AI_QUEUE_BACKEND"
    )
    ruling_queue_backend: Literal["bull", "rq", "temporal"] | None = Field(
        None, validation_alias="RULING_QUEUE_BACKEND"
    )
    webhook_queue_backend: Literal["bull", "rq", "temporal"] | None = Field(
        None, validation_alias="WEBHOOK_QUEUE_BACKEND"
    )
    notification_queue_backend: Literal["bull", "rq", "temporal"] | None = Field(
        None, validation_alias="NOTIFICATION_QUEUE_BACKEND"
    )

    temporal_cluster_url: str = Field(
        "localhost:7233", validation_alias=_env("TEMPORAL_CLUSTER_URL", "TEMPORAL_ADDRESS")
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
    temporal_rpc_timeout_ms: int = Field(
        5000, gt=0, validation_alias="QUEUE_ROUTER_TEMPORAL_TIMEOUT_MS"
    )
    """Deadline of one workflow start; past it the outcome is looked up, never guessed."""
    temporal_retry_ms: int = Field(2000, ge=0, validation_alias="QUEUE_ROUTER_TEMPORAL_RETRY_MS")
    """How long the SDK retries an unreachable server before we call Temporal down."""

    redis_url: str = Field("redis://localhost:6379/0", validation_alias="REDIS_URL")
    redis_timeout_ms: int = Field(5000, gt=0, validation_alias="QUEUE_ROUTER_REDIS_TIMEOUT_MS")
    bull_prefix: str = Field("bull", min_length=1, validation_alias="BULL_PREFIX")
    """Bull key prefix; use a hash tag such as ``{bull}`` on Redis Cluster."""
    legacy_backend: Literal["bull", "rq"] = Field(
        "bull", validation_alias="QUEUE_ROUTER_LEGACY_BACKEND"
    )
    """Legacy backend of every queue unless its override says otherwise."""
    rq_serializer: Literal["pickle", "json"] = Field(
        "pickle", validation_alias="QUEUE_ROUTER_RQ_SERIALIZER"
    )
    """Must match the RQ workers' ``--serializer`` (RQ's default is pickle)."""
    rq_function: str = Field(
        "activities.legacy.run_rq_job", validation_alias="QUEUE_ROUTER_RQ_FUNCTION"
    )
    """Dotted path of the function RQ jobs call (per-queue override possible)."""
    require_noeviction: bool = Field(False, validation_alias="QUEUE_ROUTER_REQUIRE_NOEVICTION")
    """Refuse to start (instead of warning) when Redis may evict queue keys."""

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
    """Shadow starts running at once; past it new shadow copies are dropped and counted."""

    @model_validator(mode="after")
    def _check_consistency(self) -> Self:
        if self.temporal_dual_write and self.temporal_shadow_mode:
            raise ValueError(
                "TEMPORAL_DUAL_WRITE and TEMPORAL_SHADOW_MODE are both true; choose one"
            )
        explicit = self.temporal_traffic_percentage
        if self.use_temporal_workflows and explicit is not None and explicit != 100:
            raise ValueError(
                f"USE_TEMPORAL_WORKFLOWS=true means 100%, but TEMPORAL_TRAFFIC_PERCENTAGE"
                f"={explicit:g}; unset one of them"
            )
        for var, path in self._tls_paths().items():
            if path is not None and not path.is_file():
                raise ValueError(f"{var}={path}: no such file")
        if (self.temporal_client_cert_path is None) != (
            self.temporal_client_private_key_path is None
        ):
            raise ValueError(
                "TEMPORAL_CLIENT_CERT_PATH and TEMPORAL_CLIENT_PRIVATE_KEY_PATH go together"
            )
        for name, override in self.queues.items():
            if name not in DEFAULT_CATALOGUE and override.workflow_type is None:
                raise ValueError(
                    f"QUEUE_ROUTER_QUEUES[{name!r}]: not in the catalogue, so it needs a "
                    f"workflow_type{_did_you_mean(name)}"
                )
        return self

    def _tls_paths(self) -> dict[str, Path | None]:
        return {
            "TEMPORAL_SERVER_ROOT_CA_CERT_PATH": self.temporal_server_root_ca_cert_path,
            "TEMPORAL_CLIENT_CERT_PATH": self.temporal_client_cert_path,
            "TEMPORAL_CLIENT_PRIVATE_KEY_PATH": self.temporal_client_private_key_path,
        }

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read and validate the environment; raise ``ConfigError`` naming each bad var."""
        try:
            return cls(**overrides)
        except ValidationError as exc:
            raise ConfigError(_explain(exc)) from None
        except SettingsError as exc:  # raised for unparsable JSON in a complex field
            raise ConfigError(
                f"invalid settings: QUEUE_ROUTER_QUEUES must be a JSON object ({exc})"
            ) from None

    @property
    def percentage(self) -> float:
        """The global percentage after the legacy ``USE_TEMPORAL_WORKFLOWS`` switch."""
        if self.use_temporal_workflows:
            return 100.0
        return self.temporal_traffic_percentage or 0.0

    def queue_names(self) -> list[str]:
        return sorted(set(DEFAULT_CATALOGUE) | set(self.queues))

    def queue(self, name: str) -> QueueConfig:
        """The resolved configuration of ``name``; ``UnknownQueueError`` if there is none."""
        spec = DEFAULT_CATALOGUE.get(name)
        override = self.queues.get(name, QueueOverride())
        if spec is None and name not in self.queues:
            raise UnknownQueueError(f"unknown queue {name!r}{_did_you_mean(name, self.queues)}")
        legacy: str = override.legacy or self.legacy_backend
        domain_choice = getattr(self, f"{spec.domain}_queue_backend") if spec else None
        if override.mode is not None:
            mode = override.mode
        elif domain_choice is not None:
            mode = Mode(domain_choice)
            legacy = domain_choice if domain_choice != "temporal" else legacy
        elif self.temporal_shadow_mode:
            mode = Mode.SHADOW
        elif self.temporal_dual_write:
            mode = Mode.DUAL
        else:
            mode = Mode.PERCENTAGE
        if mode in (Mode.BULL, Mode.RQ):
            legacy = mode.value
        defaults = override.default_job_options or DefaultJobOptions()
        return QueueConfig(
            name=name,
            mode=mode,
            percentage=override.percentage if override.percentage is not None else self.percentage,
            workflow_type=override.workflow_type or (spec.workflow_type if spec else ""),
            task_queue=override.task_queue or self.temporal_task_queue,
            legacy=legacy,
            rq_function=override.rq_function or self.rq_function,
            job_name=override.job_name or "__default__",
            defaults=JobOptions(
                attempts=defaults.attempts,
                backoff=defaults.backoff_value(),
                timeout_ms=defaults.timeout,
                remove_on_complete=defaults.remove_on_complete,
                remove_on_fail=defaults.remove_on_fail,
                lifo=bool(defaults.lifo),
                priority=defaults.priority,
            ),
        )


def _did_you_mean(name: str, extra: dict[str, Any] | None = None) -> str:
    known = sorted(set(DEFAULT_CATALOGUE) | set(extra or {}))
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{hint} (known queues: {', '.join(known)})"


_ALLOWED = {
    "bool_parsing": "allowed: true/false, 1/0, yes/no",
    "literal_error": "allowed: {expected}",
    "enum": "allowed: {expected}",
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be <= {le}",
    "greater_than": "must be > {gt}",
    "multiple_of": "at most two decimals",
    "float_parsing": "must be a number",
    "int_parsing": "must be a whole number",
    "json_invalid": "must be valid JSON",
}


def _env_name(loc0: str) -> str:
    """Errors carry the env var that was read; a field name maps to its first var."""
    info = Settings.model_fields.get(loc0)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        return str(alias.choices[0])
    return str(alias) if isinstance(alias, str) else loc0.upper()


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        head = _env_name(loc[0]) if loc else "settings"
        if len(loc) > 1 and head == "QUEUE_ROUTER_QUEUES":
            head = f"QUEUE_ROUTER_QUEUES[{loc[1]!r}]" + "".join(f".{p}" for p in loc[2:])
        template = _ALLOWED.get(err["type"])
        ctx = {k: v for k, v in (err.get("ctx") or {}).items()}
        hint = template.format(**ctx) if template else err["msg"]
        if err["type"] == "value_error":
            lines.append(str(ctx.get("error", err["msg"])))
            continue
        if (
            err["type"] in ("less_than_equal", "greater_than_equal")
            and "PERCENTAGE" in loc[-1].upper()
        ):
            hint = "must be a number from 0 to 100"
        shown = err.get("input")
        value = f"={shown!r}" if isinstance(shown, str | int | float) else ""
        lines.append(f"{head}{value}: {hint}")
    return "invalid settings: " + "; ".join(lines)
