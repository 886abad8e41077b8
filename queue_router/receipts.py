"""What ``enqueue()`` takes and returns: job options in, a receipt out.

Frozen dataclasses, so a receipt can be logged, compared and stored without surprises.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from queue_router.frozen import slot_setters
from queue_router.routing import Mode

__all__ = ["Backoff", "Job", "JobOptions", "Placement", "Receipt", "placed"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Backoff:
    """Delay between retries, in Bull's terms (``fixed`` or ``exponential``)."""

    type: Literal["fixed", "exponential"] = "fixed"
    delay_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class JobOptions:
    """Per-job options, named after Bull's, and translated for every backend.

    ``None`` means "use the queue's default" (Bull's ``defaultJobOptions``).
    """

    attempts: int | None = None
    delay_ms: int = 0
    priority: int | None = None
    backoff: Backoff | None = None
    lifo: bool | None = None
    timeout_ms: int | None = None
    remove_on_complete: bool | int | None = None
    remove_on_fail: bool | int | None = None

    def __post_init__(self) -> None:
        if self.attempts is not None and self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.delay_ms < 0:
            raise ValueError(f"delay_ms must be >= 0, got {self.delay_ms}")
        if self.priority is not None and not 1 <= self.priority <= 2_097_152:
            raise ValueError(f"priority must be 1 (highest) .. 2097152, got {self.priority}")
        if self.timeout_ms is not None and self.timeout_ms <= 0:
            raise ValueError(f"timeout_ms must be > 0, got {self.timeout_ms}")

    def with_defaults(self, defaults: JobOptions) -> JobOptions:
        """These options over a queue's defaults, as Bull's producer overlays them."""
        return JobOptions(
            attempts=self.attempts if self.attempts is not None else defaults.attempts,
            delay_ms=self.delay_ms or defaults.delay_ms,
            priority=self.priority if self.priority is not None else defaults.priority,
            backoff=self.backoff or defaults.backoff,
            lifo=_first(self.lifo, defaults.lifo),
            timeout_ms=self.timeout_ms or defaults.timeout_ms,
            remove_on_complete=_first(self.remove_on_complete, defaults.remove_on_complete),
            remove_on_fail=_first(self.remove_on_fail, defaults.remove_on_fail),
        )

    def to_bull(self) -> dict[str, Any]:
        """The options in Bull's JSON names; unset ones are left out, as Node leaves them."""
        out: dict[str, Any] = {"attempts": self.attempts or 1, "delay": self.delay_ms}
        if self.priority is not None:
            out["priority"] = self.priority
        if self.backoff is not None:
            out["backoff"] = {"type": self.backoff.type, "delay": self.backoff.delay_ms}
        if self.lifo:
            out["lifo"] = True
        if self.timeout_ms is not None:
            out["timeout"] = self.timeout_ms
        if self.remove_on_complete is not None:
            out["removeOnComplete"] = self.remove_on_complete
        if self.remove_on_fail is not None:
            out["removeOnFail"] = self.remove_on_fail
        return out


def _first(value: T | None, default: T | None) -> T | None:
    """The job's own value when it set one (``False`` and ``0`` included), else the default."""
    return value if value is not None else default


@dataclass(frozen=True, slots=True)
class Job:
    """One job for ``enqueue_many``: the arguments ``enqueue`` takes, in one value."""

    data: Any
    key: str | None = None
    job_id: str | None = None
    name: str | None = None
    options: JobOptions | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Placement:
    """One backend that now holds the job (or that failed to, when ``error`` is set).

    ``job_id`` is the backend's own id: the Bull/RQ job id, or the Temporal workflow id
    (with ``run_id``). ``existing`` is true when the job was already there (an
    idempotent repeat of the same ``job_id``). ``shadow`` marks a side-effect-free copy.
    """

    backend: str
    job_id: str
    run_id: str | None = None
    existing: bool = False
    shadow: bool = False
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None


_PLACEMENT = slot_setters(
    Placement, "backend", "job_id", "run_id", "existing", "shadow", "error", "detail"
)


def placed(backend: str, job_id: str, *, existing: bool, detail: dict[str, Any]) -> Placement:
    """``Placement(backend=..., job_id=..., existing=..., detail=...)``, made without the
    dataclass's ``__init__`` (``queue_router.frozen``): each Bull enqueue makes one."""
    placement = object.__new__(Placement)
    set_backend, set_job_id, set_run_id, set_existing, set_shadow, set_error, set_detail = (
        _PLACEMENT
    )
    set_backend(placement, backend)
    set_job_id(placement, job_id)
    set_run_id(placement, None)
    set_existing(placement, existing)
    set_shadow(placement, False)
    set_error(placement, None)
    set_detail(placement, detail)
    return placement


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """Where a job now is. Returned only when at least one backend holds it.

    ``placements`` lists the backends that hold the job; ``failures`` the ones that were
    tried and did not (the secondary of a dual-write, or Temporal before a fallback).
    """

    queue: str
    job_id: str
    mode: Mode
    bucket: int
    percentage: float
    placements: tuple[Placement, ...]
    failures: tuple[Placement, ...] = ()
    fell_back: bool = False
    fallback_reason: str | None = None
    shadow_started: bool = False
    """A shadow copy was handed to the workers (or started in-process); one the Redis
    stream then refuses (its bound) is counted as dropped, not reported here."""

    @property
    def backends(self) -> tuple[str, ...]:
        """Names of the backends that hold the job, primary first."""
        return tuple(p.backend for p in self.placements)

    def placement(self, backend: str) -> Placement | None:
        """The placement on ``backend``, or ``None`` if the job is not there."""
        return next((p for p in self.placements if p.backend == backend), None)
