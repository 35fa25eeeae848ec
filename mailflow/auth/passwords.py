"""Password hashes for the submission listener: scrypt (stdlib), a random salt, a self-describing string.

The stored form is ``scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>``, so the cost can be raised
later without invalidating existing hashes. Verification never raises: a malformed hash is a failed login.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1  # ~16 MiB and a few tens of milliseconds per check
SALT_BYTES = 16
HASH_BYTES = 32
# Bounds on what a stored hash may ask for, so a bad configuration cannot exhaust memory.
_MAX_N, _MAX_R, _MAX_P = 2**20, 32, 16
_MAX_MEMORY = 256 * 1024 * 1024


def hash_password(password: str) -> str:
    """A new scrypt hash of ``password`` with a random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _scrypt(password.encode("utf-8"), salt, N, R, P, HASH_BYTES)
    return "$".join((SCHEME, str(N), str(R), str(P), _b64(salt), _b64(digest)))


def verify_password(password: str, hashed: str) -> bool:
    """True if ``password`` matches ``hashed`` (constant-time comparison); False for any malformed hash."""
    parsed = _parse(hashed)
    if parsed is None:
        return False
    n, r, p, salt, expected = parsed
    try:
        actual = _scrypt(password.encode("utf-8", "surrogatepass"), salt, n, r, p, len(expected))
    except (ValueError, MemoryError, UnicodeEncodeError):
        return False
    return hmac.compare_digest(actual, expected)


def looks_like_hash(value: str) -> bool:
    """True if ``value`` has the shape ``hash_password`` produces (for configuration checks)."""
    return _parse(value) is not None


def _parse(hashed: str) -> tuple[int, int, int, bytes, bytes] | None:
    parts = hashed.strip().split("$")
    if len(parts) != 6 or parts[0] != SCHEME or not all(x.isdigit() for x in parts[1:4]):
        return None
    n, r, p = (int(x) for x in parts[1:4])
    if n < 2 or n > _MAX_N or n & (n - 1) or not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
        return None
    try:
        salt = base64.b64decode(parts[4], validate=True)
        expected = base64.b64decode(parts[5], validate=True)
    except (binascii.Error, ValueError):
        return None
    if not salt or not 16 <= len(expected) <= 64:
        return None
    return n, r, p, salt, expected


def _scrypt(secret: bytes, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    memory = 128 * r * n * p + 1024 * 1024
    return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, dklen=length, maxmem=min(memory * 2, _MAX_MEMORY))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
