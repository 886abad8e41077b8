"""From a low-level connection error to the setting that fixes it.

A TLS failure reads as a connection error from deep inside a client library; the
operator needs the name of the variable to change. Each function returns that hint
(starting with "; "), or "" when the error is not a TLS failure.
"""

from __future__ import annotations

from queue_router.connections.redis_client import ConnectionSetupError

__all__ = ["redis_tls_hint", "short_reason", "temporal_tls_hint"]


def short_reason(exc: BaseException) -> str:
    """A connection error in a few words, not a transport-error dump."""
    text = str(exc)
    for markers, words in (
        (("ConnectionRefused", "Connection refused", "Connect call failed"), "connection refused"),
        (("dns error", "failed to lookup", "Name or service not known"), "name not resolved"),
        (("timed out", "Timeout", "DeadlineExceeded"), "timed out"),
    ):
        if any(marker in text for marker in markers):
            return words
    return text if len(text) <= 160 else text[:157] + "..."


def redis_tls_hint(exc: BaseException, url: str) -> str:
    text = f"{exc} {exc.__context__ or ''} {exc.__cause__ or ''}"
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return (
            "; TLS: the server's certificate is not signed by a CA we trust: check "
            "REDIS_TLS_CA_CERT_PATH"
        )
    refused_in_handshake = "connecting to" in text and any(
        marker in text for marker in ("ALERT", "CERTIFICATE_REQUIRED")
    )
    if url.startswith("rediss://") and (
        isinstance(exc, ConnectionSetupError) or refused_in_handshake
    ):
        return (
            "; TLS: the server dropped the connection during setup; if it requires a client "
            "certificate, check REDIS_TLS_CERT_PATH and REDIS_TLS_KEY_PATH"
        )
    return ""


def temporal_tls_hint(exc: BaseException, *, tls: bool) -> str:
    text = str(exc)
    if "InvalidCertificate" in text or "UnknownIssuer" in text or "NotValidForName" in text:
        return (
            "; TLS: Temporal's certificate is not trusted for this address: check "
            "TEMPORAL_SERVER_ROOT_CA_CERT_PATH and TEMPORAL_SERVER_NAME"
        )
    # TLS 1.3: the server checks our certificate after the handshake, so a refusal shows
    # as the first call failing on a connection that was up (reset, EOF, broken pipe).
    dropped = ("close_notify", "UnexpectedEof", "CertificateRequired", "BrokenPipe", "broken pipe")
    after_setup = "call error after connection" in text
    if tls and (after_setup or any(marker in text for marker in dropped)):
        return (
            "; TLS: the server closed the connection during setup; if it requires a client "
            "certificate, check TEMPORAL_CLIENT_CERT_PATH and TEMPORAL_CLIENT_PRIVATE_KEY_PATH"
        )
    if not tls and "transport error" in text:
        return "; if the server expects TLS, set TEMPORAL_TLS_ENABLED=true"
    return ""
