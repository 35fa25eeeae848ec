"""The keys that seal personal data at rest, and the one format of a sealed value.

A key is 32 random bytes (AES-256-GCM), written as URL-safe base64 (``mailflow keys new``). Several
keys may be configured: the first seals what is written, every one of them opens what was written
with it (rotation: put the new key first, run ``mailflow keys rotate``, then drop the old one).

A key's id is derived from the key itself (the first 4 bytes of HMAC-SHA256(key, "mailflow key
id"), as 8 hex digits): nothing to name or to keep in step with the key, and it tells nothing about
the key. Every sealed value names the id of the key that sealed it, so a value written with a key
that is no longer configured is refused by name instead of read as noise.

Sealed values, versioned and self-describing (``1`` is the format's version):

    text, JSON:  "mfenc1:" + key id (8 hex) + ":" + base64url(nonce 12 | ciphertext | tag 16)
    bytes:       b"\\x00mfenc1:" + key id (4 bytes) + nonce 12 + ciphertext + tag 16

A value without the prefix was written before encryption was turned on and is read as it is. The
associated data of every value is the table and column it belongs to: a sealed value copied into
another column does not open there. The nonce is random (96 bits): with one key, safe for far more
values than a committee writes (NIST's bound for random nonces is 2^32 messages per key).

Equality lookups on a sealed column go through a keyed blind index (``index``): HMAC-SHA256 with a
key derived from the first key, so the index changes with the key (``keys rotate`` recomputes it).

Nothing here logs, and no error message carries a key or a plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mailflow.errors import MailflowError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_ID_BYTES = 4

TEXT_PREFIX = "mfenc1:"
BYTES_PREFIX = b"\x00mfenc1:"
INDEX_PREFIX = "mfidx1:"

_ID_LABEL = b"mailflow key id"
_INDEX_LABEL = b"mailflow blind index v1"


class SealError(MailflowError):
    """A sealed value cannot be opened: the key is missing or wrong, or the value was altered."""


class UnknownKey(SealError):
    """A value sealed with a key that is not configured."""


class BadKey(ValueError):
    """A configured key is not 32 bytes of URL-safe base64."""


def new_key() -> str:
    """A fresh random key, as the configuration takes it."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def parse_key(text: str) -> bytes:
    """The 32 bytes of a key written as URL-safe base64 (padding optional); BadKey otherwise."""
    value = text.strip()
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise BadKey("is not URL-safe base64 (make one with `mailflow keys new`)") from None
    if len(raw) != KEY_BYTES or not value:
        raise BadKey(f"is {len(raw)} bytes, not {KEY_BYTES} (make one with `mailflow keys new`)")
    return raw


def parse_keys(text: str) -> list[bytes]:
    """Keys separated by commas, spaces or lines ('#' starts a comment line), in order."""
    words: list[str] = []
    for line in text.splitlines():
        line = line.split("#", 1)[0]  # base64url has no '#'
        words += [w for w in line.replace(",", " ").split() if w]
    return [parse_key(w) for w in words]


def key_id(key: bytes) -> str:
    return hmac.new(key, _ID_LABEL, hashlib.sha256).digest()[:KEY_ID_BYTES].hex()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def aad_for(table: str, column: str) -> bytes:
    """The associated data of a value: the column it was sealed for."""
    return f"mailflow\0{table}.{column}".encode()


def text_key_id(value: str) -> str | None:
    """The key id a sealed text value names, or None for plaintext."""
    if not value.startswith(TEXT_PREFIX):
        return None
    return value[len(TEXT_PREFIX) : len(TEXT_PREFIX) + 2 * KEY_ID_BYTES]


def bytes_key_id(value: bytes) -> str | None:
    if not value.startswith(BYTES_PREFIX):
        return None
    return value[len(BYTES_PREFIX) : len(BYTES_PREFIX) + KEY_ID_BYTES].hex()


def index_key_id(value: str) -> str | None:
    if not value.startswith(INDEX_PREFIX):
        return None
    return value[len(INDEX_PREFIX) : len(INDEX_PREFIX) + 2 * KEY_ID_BYTES]


class Keyring:
    """The configured keys: the first seals, all open."""

    __slots__ = ("_aead", "_index_key", "ids", "primary")

    def __init__(self, keys: Iterable[bytes]) -> None:
        aead: dict[str, AESGCM] = {}
        first: bytes | None = None
        for key in keys:
            if len(key) != KEY_BYTES:
                raise BadKey(f"is {len(key)} bytes, not {KEY_BYTES}")
            aead.setdefault(key_id(key), AESGCM(key))
            first = first or key
        if first is None:
            raise BadKey("no key given")
        self._aead = aead
        self.ids: tuple[str, ...] = tuple(aead)
        self.primary: str = self.ids[0]
        self._index_key = hmac.new(first, _INDEX_LABEL, hashlib.sha256).digest()

    def __repr__(self) -> str:  # never the keys
        return f"Keyring(ids={list(self.ids)})"

    def _open(self, kid: str, blob: bytes, aad: bytes, what: str) -> bytes:
        aead = self._aead.get(kid)
        if aead is None:
            raise UnknownKey(
                f"{what} was sealed with key {kid}, which is not configured (configured: {', '.join(self.ids)})"
            )
        if len(blob) < NONCE_BYTES + TAG_BYTES:
            raise SealError(f"{what} is not a complete sealed value (truncated)")
        try:
            return aead.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad)
        except InvalidTag:
            raise SealError(
                f"{what} does not open with key {kid}: the value was altered, or moved from another column"
            ) from None

    def _seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead[self.primary].encrypt(nonce, plaintext, aad)

    # -- text (and JSON, as its text) -----------------------------------------------------------

    def seal_text(self, value: str, aad: bytes) -> str:
        return f"{TEXT_PREFIX}{self.primary}:{_b64(self._seal(value.encode('utf-8'), aad))}"

    def open_text(self, value: str, aad: bytes, what: str = "a value") -> str:
        kid = text_key_id(value) or ""
        rest = value[len(TEXT_PREFIX) + 2 * KEY_ID_BYTES :]
        if not rest.startswith(":"):
            raise SealError(f"{what} is not a well-formed sealed value")
        try:
            blob = _unb64(rest[1:])
        except (binascii.Error, ValueError):
            raise SealError(f"{what} is not a well-formed sealed value") from None
        try:
            return self._open(kid, blob, aad, what).decode("utf-8")
        except UnicodeDecodeError:
            raise SealError(f"{what} opened to something that is not UTF-8") from None

    # -- bytes ----------------------------------------------------------------------------------

    def seal_bytes(self, value: bytes, aad: bytes) -> bytes:
        return BYTES_PREFIX + bytes.fromhex(self.primary) + self._seal(value, aad)

    def open_bytes(self, value: bytes, aad: bytes, what: str = "a value") -> bytes:
        kid = bytes_key_id(value) or ""
        return self._open(kid, value[len(BYTES_PREFIX) + KEY_ID_BYTES :], aad, what)

    # -- blind index ----------------------------------------------------------------------------

    def index(self, value: str) -> str:
        digest = hmac.new(self._index_key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
        return f"{INDEX_PREFIX}{self.primary}:{digest}"


def keyring(keys: Sequence[bytes]) -> Keyring | None:
    """A keyring of these keys, None when there are none (encryption off)."""
    return Keyring(keys) if keys else None
