"""One queue's configuration: the per-queue override as written, and as resolved.

``QueueOverride`` is one entry of ``QUEUE_ROUTER_QUEUES`` (every field optional);
``QueueConfig`` is what the router uses after precedence is applied (see
``config.settings``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from queue_router.payload import MAX_JOB_NAME
from queue_router.receipts import Backoff, JobOptions
from queue_router.routing import DEFAULT_BUCKETING, Bucketing, Mode, QueueState, Route
from workflows.envelope import DEFAULT_WORKFLOW_ID, workflow_id

__all__ = ["DefaultJobOptions", "QueueConfig", "QueueOverride", "ShadowPolicy"]

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

    def job_options(self) -> JobOptions:
        return JobOptions(
            attempts=self.attempts,
            backoff=self.backoff_value(),
            timeout_ms=self.timeout,
            remove_on_complete=self.remove_on_complete,
            remove_on_fail=self.remove_on_fail,
            lifo=self.lifo,
            priority=self.priority,
        )


class BucketingOverride(BaseModel):
    """``"bucketing"`` of a queue: keep the assignment a flag service already made."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["queue-router", "unleash", "flagd"] = "queue-router"
    salt: str = ""
    group_id: str | None = None
    flag_key: str | None = None

    @model_validator(mode="after")
    def _fields_of_the_strategy(self) -> Self:
        needs = {"unleash": "group_id", "flagd": "flag_key"}.get(self.strategy)
        if needs and getattr(self, needs) is None:
            raise ValueError(f"strategy {self.strategy!r} needs {needs!r}")
        if self.salt and self.strategy != "queue-router":
            raise ValueError("salt is for the queue-router strategy only")
        return self

    def bucketing(self) -> Bucketing:
        return Bucketing(self.strategy, self.salt, self.group_id or "", self.flag_key or "")


class QueueOverride(BaseModel):
    """One queue's entry in ``QUEUE_ROUTER_QUEUES``; every field is optional."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode | None = None
    percentage: Percentage | None = None
    workflow_type: str | None = None
    task_queue: str | None = None
    legacy: Literal["bull", "rq", "list"] | None = None
    list_key: str | None = Field(None, min_length=1)
    """``legacy: list``: the Redis list the legacy consumer pops (default: the queue name)."""
    list_envelope: bool | None = None
    """``legacy: list``: push ``{"job_id", "queue", "data", "options"}`` instead of the data."""
    rq_function: str | None = None
    job_name: str | None = Field(None, min_length=1, max_length=MAX_JOB_NAME)
    """The Bull job name of jobs enqueued without one (checked here, not per job)."""
    default_job_options: DefaultJobOptions | None = None
    bucketing: BucketingOverride | None = None
    shadow_percentage: Percentage | None = None
    compare: str | None = Field(None, pattern=r"^[A-Za-z_][\w.]*[:.][A-Za-z_]\w*$")
    compare_ignore: list[str] | None = None
    compare_effects: bool | None = None
    compare_within_s: int | None = Field(None, ge=0, le=7 * 24 * 3600)
    versioning: Literal["pinned", "auto_upgrade"] | None = None
    workflow_id: str | None = Field(None, min_length=1)
    """Template of the queue's workflow ids, with ``{queue}`` and ``{job_id}``."""

    @field_validator("workflow_id")
    @classmethod
    def _a_template_of_the_job(cls, template: str | None) -> str | None:
        if template is None:
            return None
        try:
            sample = template.format(queue="q", job_id="j")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"workflow_id {template!r}: only {{queue}} and {{job_id}} may "
                             f"appear ({exc})") from None  # fmt: skip
        if "{job_id}" not in template or "/" in sample.replace("q/j", ""):
            raise ValueError(f"workflow_id {template!r} must contain {{job_id}} (and no '/')")
        return template

    def shadow_policy(self) -> ShadowPolicy:
        defaults = ShadowPolicy()
        return ShadowPolicy(
            percentage=_given(self.shadow_percentage, defaults.percentage),
            compare=self.compare,
            ignore=tuple(self.compare_ignore or ()),
            effects=_given(self.compare_effects, defaults.effects),
            within_s=_given(self.compare_within_s, defaults.within_s),
        )


T = TypeVar("T")


def _given(value: T | None, default: T) -> T:
    return default if value is None else value


@dataclass(frozen=True, slots=True)
class ShadowPolicy:
    """Which keys a shadow-mode queue copies to Temporal, and how runs are compared."""

    percentage: float = 100.0
    """Only keys whose bucket is below this share are shadowed (the same keys every time)."""
    compare: str | None = None
    """``module:function(legacy, shadow) -> bool``; JSON equality when unset."""
    ignore: tuple[str, ...] = ()
    """Keys dropped (at any depth) before the default comparison, e.g. ``generated_at``."""
    effects: bool = True
    """Compare the effects each side performed; off for legacy processors that do not
    record theirs through the claim protocol."""
    within_s: int = 3600
    """How long a shadow run waits for its legacy job to finish before ``ignored``."""


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
    bucketing: Bucketing = DEFAULT_BUCKETING
    shadow: ShadowPolicy = ShadowPolicy()
    list_key: str = ""
    list_envelope: bool = False
    workflow_id_template: str = DEFAULT_WORKFLOW_ID
    versioning: str | None = None
    """Worker versioning of the queue's job workflows: ``pinned`` or ``auto_upgrade``
    (the default) on a versioned worker; ignored by unversioned workers."""
    _id_halves: tuple[str, str] | None = field(init=False, repr=False, compare=False)
    """The workflow id template of this queue around its one ``{job_id}`` (``None`` when
    it has it twice): every enqueue makes an id, and joining three strings takes a
    tenth of the time ``str.format`` does."""

    def __post_init__(self) -> None:
        marked = workflow_id(self.name, "\0", template=self.workflow_id_template)
        head, _, tail = marked.partition("\0")
        halves = (head, tail) if marked.count("\0") == 1 else None
        object.__setattr__(self, "_id_halves", halves)  # frozen: as its __init__ does

    def with_live(self, mode: str | None, percentage: float | None) -> QueueConfig:
        """This queue with a live mode and/or percentage applied over its env values."""
        new_mode = Mode(mode) if mode is not None else self.mode
        legacy = new_mode.value if new_mode in (Mode.BULL, Mode.RQ) else self.legacy
        pct = percentage if percentage is not None else self.percentage
        return replace(self, mode=new_mode, percentage=pct, legacy=legacy)

    def workflow_id(self, job_id: str) -> str:
        """The id of this queue's workflow for ``job_id`` (its template, or the default)."""
        if self._id_halves is None:
            return workflow_id(self.name, job_id, template=self.workflow_id_template)
        head, tail = self._id_halves
        return head + job_id + tail

    def state(self) -> QueueState:
        """What this queue's routes depend on (see ``RouteTable``)."""
        return QueueState(
            self.name, self.mode, self.percentage, self.legacy, self.bucketing,
            self.shadow.percentage,
        )  # fmt: skip

    def route(self, key: str) -> Route:
        """Where ``key`` goes on this queue now: a pure function, no I/O."""
        return self.state().route_at(self.bucketing.bucket_of(key))
