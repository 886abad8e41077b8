"""TLS failures, as the Temporal SDK and redis-py report them, name the setting to fix.

The messages are the ones seen from real servers behind a TLS proxy (test_tls.py): a
TLS 1.3 server refuses a missing client certificate after the handshake, so the first
call fails in one of several ways depending on timing.
"""

from __future__ import annotations

import pytest

from queue_router.connections.diagnose import redis_tls_hint, temporal_tls_hint
from queue_router.connections.redis_client import ConnectionSetupError

CONNECT = "Failed client connect: `get_system_info` call error after connection: Status { code: "


@pytest.mark.parametrize(
    "message",
    [
        CONNECT
        + 'Unknown, message: "transport error", source: Some(hyper::Error(Io, Custom { kind: UnexpectedEof, error: "peer closed connection without sending TLS close_notify" })) }',
        CONNECT
        + 'Unknown, message: "transport error", source: Some(hyper::Error(Io, Custom { kind: BrokenPipe, error: "stream closed because of a broken pipe" })) }',
        CONNECT
        + 'Unknown, message: "transport error", source: Some(hyper::Error(Io, Kind(ConnectionReset))) }',
        CONNECT
        + 'Cancelled, message: "operation was canceled", source: Some(hyper::Error(Canceled, "connection closed")) }',
    ],
)
def test_a_refused_client_certificate_names_the_client_cert_settings(message: str) -> None:
    hint = temporal_tls_hint(RuntimeError(message), tls=True)
    assert "TEMPORAL_CLIENT_CERT_PATH" in hint and "TEMPORAL_CLIENT_PRIVATE_KEY_PATH" in hint


def test_an_untrusted_server_names_the_ca_setting() -> None:
    error = RuntimeError(
        "Failed client connect: ConnectError(Custom { kind: InvalidData, error: InvalidCertificate(UnknownIssuer) })"
    )
    assert "TEMPORAL_SERVER_ROOT_CA_CERT_PATH" in temporal_tls_hint(error, tls=True)


def test_no_hint_for_a_plain_refused_connection() -> None:
    refused = RuntimeError(
        "Failed client connect: tcp connect error, Os { code: 111, kind: ConnectionRefused }"
    )
    assert temporal_tls_hint(refused, tls=True) == ""
    assert redis_tls_hint(ConnectionSetupError("Error connecting to x: reset"), "redis://x") == ""


def test_redis_hints() -> None:
    verify = ConnectionError(
        "Error 1 connecting to 127.0.0.1:6380. [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    assert "REDIS_TLS_CA_CERT_PATH" in redis_tls_hint(verify, "rediss://h:6380")
    dropped = ConnectionSetupError(
        "Error connecting to h:6380: the connection was dropped while being set up"
    )
    assert "REDIS_TLS_CERT_PATH" in redis_tls_hint(dropped, "rediss://h:6380")


def test_redis_client_certificate_refused_during_the_handshake() -> None:
    alert = ConnectionError(
        "Error 1 connecting to h:6380. [SSL: TLSV13_ALERT_CERTIFICATE_REQUIRED] tlsv13 alert certificate required"
    )
    assert "REDIS_TLS_CERT_PATH" in redis_tls_hint(alert, "rediss://h:6380")
    assert redis_tls_hint(alert, "redis://h:6380") == ""
