"""``--metrics-port``: one HTTP endpoint with queue-router's metrics and the Temporal SDK's.

The SDK's Rust core exports its own Prometheus metrics (workflow completions and
failures, activity failures, schedule-to-start latency, task slots) from its own
listener; the migration guides' Temporal dashboards expect them beside ours. So the SDK
listens on a private loopback port, and ``/metrics`` here serves prometheus-client's
default registry followed by the SDK's text: one scrape target, both sets.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from temporalio.runtime import PrometheusConfig, Runtime

from queue_router.telemetry.sdk_logs import forwarding_runtime

__all__ = ["MetricsServer", "loopback_port", "sdk_runtime"]


def loopback_port() -> int:
    """A free loopback port, for the SDK's private exporter."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sdk_runtime(port: int) -> Runtime:
    """A Temporal runtime whose core exports Prometheus metrics on ``127.0.0.1:port``."""
    prometheus = PrometheusConfig(bind_address=f"127.0.0.1:{port}", counters_total_suffix=True)
    return forwarding_runtime(metrics=prometheus)


class MetricsServer:
    """Serves ``GET /metrics`` on ``port`` (all interfaces) in a daemon thread.

    Args:
        port: the ``--metrics-port``.
        sdk_port: where the Temporal SDK's exporter listens, or ``None`` for ours only.
    """

    def __init__(self, port: int, *, sdk_port: int | None = None) -> None:
        sdk_url = f"http://127.0.0.1:{sdk_port}/metrics" if sdk_port else None

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self.send_error(404)
                    return
                body = generate_latest()
                if sdk_url is not None:
                    try:
                        with urllib.request.urlopen(sdk_url, timeout=5) as sdk:
                            body += sdk.read()
                    except OSError as exc:
                        body += f"# Temporal SDK metrics unavailable: {exc}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE_LATEST)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                """Scrapes are not worth a log line each."""

        self._server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
