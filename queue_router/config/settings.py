"""``Settings``: the small settings objects composed, validated together, and per-queue resolution.

Env var names are the ones teams already use in their migration guides. Precedence for
a queue's mode and percentage, highest first:

1. ``QUEUE_ROUTER_QUEUES`` (JSON, per queue): ``{"email-send": {"mode": "percentage",
   "percentage": 25}}``; it can also add queues that are not in the catalogue.
2. The domain switch ``<DOMAIN>_QUEUE_BACKEND`` (``bull`` / ``rq`` / ``temporal``).
3. The global switches: ``TEMPORAL_SHADOW_MODE`` -> shadow, ``TEMPORAL_DUAL_WRITE`` ->
   dual, otherwise percentage with ``TEMPORAL_TRAFFIC_PERCENTAGE`` (alias
   ``TEMPORAL_ROLLOUT``; ``USE_TEMPORAL_WORKFLOWS=true`` means 100).

Every problem is reported by ``Settings.from_env()`` before any connection is made, as
one ``ConfigError`` naming each bad env var and its allowed values.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError

from queue_router.config import parts
from queue_router.config.catalogue import DEFAULT_CATALOGUE
from queue_router.config.envcheck import check_aliases, known_variables, warn_unknown
from queue_router.config.explain import explain
from queue_router.config.queues import DefaultJobOptions, QueueConfig, QueueOverride
from queue_router.errors import ConfigError, UnknownQueueError
from queue_router.routing import DEFAULT_BUCKETING, Mode
from workflows.envelope import DEFAULT_WORKFLOW_ID

__all__ = ["Settings"]

_NO_DEFAULTS = DefaultJobOptions()


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """All settings, as one small object per consumer (httpx's ``Timeout``/``Limits`` style).

    The router reads ``routing``, ``redis`` and ``temporal``; workers add ``worker``,
    ``smtp`` and ``webhook``; the migration commands add ``migration``.
    """

    routing: parts.RoutingSettings
    redis: parts.RedisSettings
    temporal: parts.TemporalSettings
    worker: parts.WorkerSettings
    smtp: parts.SmtpSettings
    webhook: parts.WebhookSettings
    migration: parts.MigrationSettings

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        """Read and validate the environment; raise one ``ConfigError`` naming each bad var.

        ``overrides`` are field names of any part (``redis_url=...``, ``queues={...}``);
        each goes to the part that has it, and an unknown name is an error.
        """
        owner = {name: part for part, model in _PARTS.items() for name in model.model_fields}
        unknown = sorted(set(overrides) - set(owner))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        check_aliases(_PARTS.values())
        domains = {spec.domain for spec in DEFAULT_CATALOGUE.values()}
        warn_unknown(known_variables(_PARTS.values(), domains))
        built: dict[str, Any] = {}
        problems: list[str] = []
        for part, model in _PARTS.items():
            given = {k: v for k, v in overrides.items() if owner[k] == part}
            try:
                built[part] = model(**given)
            except ValidationError as exc:
                problems.extend(explain(exc, model))
            except SettingsError as exc:  # raised for unparsable JSON in a complex field
                problems.append(f"QUEUE_ROUTER_QUEUES must be a JSON object ({exc})")
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))
        settings = cls(**built)
        settings._check_consistency()
        return settings

    def _check_consistency(self) -> None:
        routing, temporal = self.routing, self.temporal
        problems = []
        if routing.temporal_dual_write and routing.temporal_shadow_mode:
            problems.append(
                "TEMPORAL_DUAL_WRITE and TEMPORAL_SHADOW_MODE are both true; choose one"
            )
        explicit = routing.temporal_traffic_percentage
        if routing.use_temporal_workflows and explicit is not None and explicit != 100:
            problems.append(
                f"USE_TEMPORAL_WORKFLOWS=true means 100%, but TEMPORAL_TRAFFIC_PERCENTAGE"
                f"={explicit:g}; unset one of them"
            )
        for var, path in {**temporal.tls_paths(), **self.redis.tls_paths()}.items():
            if path is not None and not path.is_file():
                problems.append(f"{var}={path}: no such file")
        redis = self.redis
        if (redis.redis_tls_cert_path is None) != (redis.redis_tls_key_path is None):
            problems.append("REDIS_TLS_CERT_PATH and REDIS_TLS_KEY_PATH go together")
        if any(redis.tls_paths().values()) and redis.tls() is None:
            problems.append(
                "REDIS_TLS_* is set but REDIS_URL does not start with rediss://: "
                "use rediss:// for TLS (or unset the REDIS_TLS_* variables)"
            )
        if (temporal.temporal_client_cert_path is None) != (
            temporal.temporal_client_private_key_path is None
        ):
            problems.append(
                "TEMPORAL_CLIENT_CERT_PATH and TEMPORAL_CLIENT_PRIVATE_KEY_PATH go together"
            )
        problems.extend(self._cluster_problems())
        for name, override in routing.queues.items():
            if name not in DEFAULT_CATALOGUE and override.workflow_type is None:
                problems.append(
                    f"QUEUE_ROUTER_QUEUES[{name!r}]: not in the catalogue, so it needs a "
                    f"workflow_type{_did_you_mean(name)}"
                )
        if problems:
            raise ConfigError("invalid settings: " + "; ".join(problems))

    def _cluster_problems(self) -> list[str]:
        """On Redis Cluster, Bull needs one slot per queue, and RQ cannot run at all."""
        if not self.redis.redis_cluster_nodes:
            return []
        problems = []
        prefix = self.redis.bull_prefix
        if not re.search(r"\{[^}]+\}", prefix):
            problems.append(
                f"BULL_PREFIX={prefix!r} has no hash tag: on Redis Cluster every key of a Bull "
                f"queue must share one slot; use BULL_PREFIX={{{prefix}}} (and the same prefix "
                "in the Node Bull workers)"
            )
        on_rq = [name for name in self.queue_names() if self.queue(name).legacy == "rq"]
        if on_rq:
            problems.append(
                f"RQ does not support Redis Cluster (REDIS_CLUSTER_NODES is set), but "
                f"{', '.join(on_rq)} use legacy 'rq': move them to 'bull' or to a single Redis"
            )
        return problems

    def queue_names(self) -> list[str]:
        return sorted(set(DEFAULT_CATALOGUE) | set(self.routing.queues))

    def queue(self, name: str) -> QueueConfig:
        """The resolved configuration of ``name``; ``UnknownQueueError`` if there is none."""
        routing = self.routing
        spec = DEFAULT_CATALOGUE.get(name)
        override = routing.queues.get(name, QueueOverride())
        if spec is None and name not in routing.queues:
            if not isinstance(name, str):
                raise UnknownQueueError(f"queue {name!r} is not a name: pass the queue's name")
            raise UnknownQueueError(f"unknown queue {name!r}{_did_you_mean(name, routing.queues)}")
        legacy: str = override.legacy or routing.legacy_backend
        domain_choice = routing.domain_backends.get(spec.domain) if spec else None
        if override.mode is not None:
            mode = override.mode
        elif domain_choice is not None:
            mode = Mode(domain_choice)
            legacy = domain_choice if domain_choice != "temporal" else legacy
        elif routing.temporal_shadow_mode:
            mode = Mode.SHADOW
        elif routing.temporal_dual_write:
            mode = Mode.DUAL
        else:
            mode = Mode.PERCENTAGE
        if mode in (Mode.BULL, Mode.RQ):
            legacy = mode.value
        percentage = override.percentage
        return QueueConfig(
            name=name,
            mode=mode,
            percentage=percentage if percentage is not None else routing.percentage,
            workflow_type=override.workflow_type or (spec.workflow_type if spec else ""),
            task_queue=override.task_queue or self.temporal.temporal_task_queue,
            legacy=legacy,
            rq_function=override.rq_function or routing.rq_function,
            job_name=override.job_name or "__default__",
            defaults=(override.default_job_options or _NO_DEFAULTS).job_options(),
            bucketing=override.bucketing.bucketing() if override.bucketing else DEFAULT_BUCKETING,
            shadow=override.shadow_policy(),
            versioning=override.versioning,
            list_key=override.list_key or (name if legacy == "list" else ""),
            list_envelope=bool(override.list_envelope),
            workflow_id_template=override.workflow_id or DEFAULT_WORKFLOW_ID,
        )

    def task_queues(self) -> list[str]:
        """The default task queue plus every per-queue one from ``QUEUE_ROUTER_QUEUES``."""
        queues = {self.temporal.temporal_task_queue}
        queues.update(o.task_queue for o in self.routing.queues.values() if o.task_queue)
        return sorted(queues)


def _did_you_mean(name: str, extra: dict[str, Any] | None = None) -> str:
    known = sorted(set(DEFAULT_CATALOGUE) | set(extra or {}))
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return f"{hint} (known queues: {', '.join(known)})"


_PARTS: dict[str, type[BaseSettings]] = {
    "routing": parts.RoutingSettings,
    "redis": parts.RedisSettings,
    "temporal": parts.TemporalSettings,
    "worker": parts.WorkerSettings,
    "smtp": parts.SmtpSettings,
    "webhook": parts.WebhookSettings,
    "migration": parts.MigrationSettings,
}
