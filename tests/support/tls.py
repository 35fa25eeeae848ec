"""TLS for the servers the tests run: one throw-away trustme CA per test session (the ``tls_ca``
fixture in tests/conftest.py) issues a certificate for 127.0.0.1 and localhost into files, for the
submission listener and Dovecot, and clients trust that CA and nothing else."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme

__all__ = ["ServerTls", "issue_server_tls"]


@dataclass(frozen=True)
class ServerTls:
    """A server certificate (with its chain) and key, and the CA certificate a client trusts."""

    certificate: Path
    key: Path
    cafile: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only the test CA (host names checked)."""
        return ssl.create_default_context(cafile=str(self.cafile))


def issue_server_tls(ca: trustme.CA, directory: Path) -> ServerTls:
    """Write ``server.pem``, ``server.key`` (mode 0600) and ``ca.pem`` for 127.0.0.1/localhost."""
    directory.mkdir(parents=True, exist_ok=True)
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    tls = ServerTls(directory / "server.pem", directory / "server.key", directory / "ca.pem")
    tls.certificate.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    tls.key.touch(mode=0o600)
    leaf.private_key_pem.write_to_path(str(tls.key))
    ca.cert_pem.write_to_path(str(tls.cafile))
    return tls
