"""A TLS-terminating loopback proxy with certificates made in the test (trustme).

``TLSProxy(target_port, ca, require_client_cert=True, alpn=["h2"])`` accepts TLS on a
free port, optionally requires a client certificate signed by ``ca``, and forwards the
plaintext to ``127.0.0.1:target_port``: a TLS Redis or (with ALPN ``h2``) a TLS Temporal
frontend in front of servers that have no TLS of their own. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import ssl
from pathlib import Path

import trustme

from tests.proxy import ToggleProxy


class Certificates:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate, as files."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("127.0.0.1", "localhost")
        self.client = self.ca.issue_cert("queue-router-client")
        self.ca_path = directory / "ca.pem"
        self.client_cert_path = directory / "client.pem"
        self.client_key_path = directory / "client.key"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.client.cert_chain_pems[0].write_to_path(str(self.client_cert_path))
        self.client.private_key_pem.write_to_path(str(self.client_key_path))
        other = trustme.CA()  # a CA that signed nothing here: "the wrong CA"
        self.wrong_ca_path = directory / "wrong-ca.pem"
        other.cert_pem.write_to_path(str(self.wrong_ca_path))


class TLSProxy(ToggleProxy):
    """``ToggleProxy`` behind TLS: optionally requires a client certificate signed by ``ca``."""

    def __init__(
        self,
        target_port: int,
        certs: Certificates,
        *,
        require_client_cert: bool = True,
        alpn: list[str] | None = None,
    ) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certs.server.configure_cert(context)
        if require_client_cert:
            certs.ca.configure_trust(context)
            context.verify_mode = ssl.CERT_REQUIRED
        if alpn:
            context.set_alpn_protocols(alpn)
        super().__init__(target_port, ssl_context=context)
