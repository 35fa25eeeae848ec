"""A throw-away DKIM signing key (made with the openssl tool) and the TXT record that publishes it."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path


def new_dkim_key(directory: Path) -> tuple[bytes, bytes]:
    """(private RSA key PEM, ``v=DKIM1`` TXT record of its public key); the key is kept in ``directory``."""
    path = directory / "key.pem"
    subprocess.run(["openssl", "genrsa", "-traditional", "-out", str(path), "1024"], check=True, capture_output=True)
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(path), "-pubout", "-outform", "DER"], check=True, capture_output=True
    ).stdout
    return path.read_bytes(), b"v=DKIM1; k=rsa; p=" + base64.b64encode(der)
