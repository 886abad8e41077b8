"""The Temporal SDK core's own log lines go through Python ``logging``, not raw stderr.

The SDK's Rust core writes ANSI-coloured ``WARN temporalio_client::retry ...`` lines to
the process's stderr by default; an application's logging configuration never sees
them. Every runtime queue-router creates forwards them instead to the logger
``temporalio.core`` (with the Rust target appended, e.g.
``temporalio.core.temporalio_client``), at WARN and above: silence or route them like
any other logger.
"""

from __future__ import annotations

import functools
import logging

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    MetricBuffer,
    OpenTelemetryConfig,
    PrometheusConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

__all__ = ["CORE_LOGGER", "core_runtime", "forwarding_runtime"]

CORE_LOGGER = "temporalio.core"


def forwarding_runtime(
    metrics: OpenTelemetryConfig | PrometheusConfig | MetricBuffer | None = None,
) -> Runtime:
    """A runtime whose core logs go to ``logging.getLogger("temporalio.core")``."""
    forwarding = LogForwardingConfig(logger=logging.getLogger(CORE_LOGGER))
    filter_ = TelemetryFilter(core_level="WARN", other_level="ERROR")
    telemetry = TelemetryConfig(
        logging=LoggingConfig(filter=filter_, forwarding=forwarding), metrics=metrics
    )
    return Runtime(telemetry=telemetry)


@functools.cache
def core_runtime() -> Runtime:
    """The one forwarding runtime of this process's clients (each runtime has its own
    threads); the SDK's default runtime, which an application may own, is left alone."""
    return forwarding_runtime()
