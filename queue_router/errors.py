"""The one exception tree of queue-router: one meaning per class.

Every failure of ``enqueue()`` says which of the three outcomes of the reliability
contract happened, so a caller knows whether a retry is needed and whether it is safe.
Errors about the *setup* (settings, credentials, a server a command cannot reach) are
kept apart from errors about *one job*, because their fixes differ::

    QueueRouterError
    ├── ConfigError               a setting is missing or wrong; names the env var
    │   └── CredentialsRejected   a server refused our credentials (also NotEnqueuedError)
    ├── StartupError              a preflight refused, or a command cannot reach a server
    ├── NotEnqueuedError          this job was definitely NOT written anywhere
    │   ├── UnknownQueueError     the queue is not configured ("did you mean ...")
    │   ├── InvalidJobError       the job itself is bad: id, name or options
    │   │   └── PayloadError      the data: not JSON-serializable or over the size limit
    │   ├── BackendUnavailable    a server was unreachable, or refused this write
    │   └── CredentialsRejected   (see above: nothing was written, and settings must change)
    ├── EnqueueOutcomeUnknown     the job may or may not exist; retrying with the same
    │                             job_id is safe (every write is idempotent by job id)
    └── JobError                  raised while a job RUNS (in a worker), never by enqueue()
        ├── PermanentJobError     retrying cannot help (a 4xx, bad job data): fail now
        │   └── ProcessorNotRegistered  no processor is registered for the job's queue
        └── EffectInProgress      another run holds the side effect's claim: retry later

``NotEnqueuedError`` exists so callers can write one ``except`` for "definitely not
written, retry or give up as you like" without listing its branches. This module
imports nothing of the project: backends import it without initialising the router.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "ConfigError",
    "CredentialsRejected",
    "EffectInProgress",
    "EnqueueOutcomeUnknown",
    "InvalidJobError",
    "JobError",
    "NotEnqueuedError",
    "PayloadError",
    "PermanentJobError",
    "ProcessorNotRegistered",
    "QueueRouterError",
    "StartupError",
    "UnknownQueueError",
]


class QueueRouterError(Exception):
    """Root of every error raised by queue-router."""


class ConfigError(QueueRouterError, ValueError):
    """A setting is missing or invalid; the message names the env var and allowed values."""


class StartupError(QueueRouterError):
    """Setting up failed: a preflight refused, or a server a command needs is unreachable.

    Says nothing about any job: no job was being written.
    """


class NotEnqueuedError(QueueRouterError):
    """The job was definitely not written to any backend."""


class UnknownQueueError(NotEnqueuedError, KeyError):
    """The queue name is not configured; the message lists the close matches."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class InvalidJobError(NotEnqueuedError, ValueError):
    """The job cannot be stored as given: its id, name, options or data are invalid."""

    def __init__(self, queue: str, problem: str) -> None:
        super().__init__(f"queue {queue!r}: {problem}")
        self.queue = queue
        self.problem = problem


class PayloadError(InvalidJobError):
    """The job's data cannot be stored: not JSON-serializable, or over the size limit."""


class BackendUnavailable(NotEnqueuedError):
    """A backend provably did not take this job: unreachable, or it refused the write.

    ``cause`` keeps the underlying error so operators can see the real reason.
    """

    def __init__(self, backend: str, reason: str, *, cause: BaseException | None = None) -> None:
        super().__init__(f"{backend}: {reason}")
        self.backend = backend
        self.reason = reason
        self.cause = cause


class CredentialsRejected(NotEnqueuedError, ConfigError):
    """A server refused our credentials before running any command.

    Nothing was written, and retrying cannot help until the setting named in the
    message is fixed. The message never contains the secret itself.
    """

    def __init__(self, backend: str, reason: str) -> None:
        super().__init__(f"{backend}: {reason}")
        self.backend = backend
        self.reason = reason


class EnqueueOutcomeUnknown(QueueRouterError):
    """The write may have happened (a timeout after the request left).

    Never fall back to another backend on this error: the job could end up in two
    places. Retry with the same ``job_id`` instead; the retry is idempotent.
    """

    def __init__(
        self, backend: str, job_id: str, reason: str, *, cause: BaseException | None = None
    ) -> None:
        super().__init__(f"{backend}: outcome unknown for job {job_id!r}: {reason}")
        self.backend = backend
        self.job_id = job_id
        self.reason = reason
        self.cause = cause


class JobError(QueueRouterError):
    """A job failed while running; workers translate these into retry decisions."""


class PermanentJobError(JobError):
    """Retrying cannot succeed; Temporal marks it non-retryable, RQ stops retrying."""


class ProcessorNotRegistered(PermanentJobError):
    """No processor is registered for the job's queue; the message lists the ones that are."""

    def __init__(self, queue: str, registered: list[str]) -> None:
        known = ", ".join(sorted(registered)) or "none"
        super().__init__(
            f"no processor registered for queue {queue!r} (registered: {known}); "
            f"decorate one with @processor({queue!r}) in a module listed in "
            "QUEUE_ROUTER_PROCESSORS"
        )
        self.queue = queue


class EffectInProgress(JobError):
    """Another run of the same job holds the side effect's claim and has not finished."""
