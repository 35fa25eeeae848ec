"""Bytes to text, never failing: declared charset, byte-order marks, UTF-8, Windows-1252, Latin-1."""

from __future__ import annotations

import codecs

__all__ = ["decode_bytes", "sniff_text"]

_LATIN_SINGLE_BYTE = frozenset({"ascii", "iso8859-1", "cp1252", "iso8859-15", "latin-1"})
_SEVEN_BIT_STATEFUL = ("iso2022", "utf-7", "utf_7", "hz")


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    name = charset.strip().strip("\"'").lower()
    if name in ("", "unknown-8bit", "x-unknown", "unknown", "default", "8bit"):
        return None
    try:
        info = codecs.lookup(name)
    except LookupError:
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_bytes(data: bytes, declared: str | None) -> str:
    """Never fails: declared charset, then UTF-8, then Windows-1252, then Latin-1."""
    codec = _codec(declared)
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    if codec and codec.startswith(("utf-16", "utf-32")):
        return data.decode(codec, "replace")
    if codec and codec.startswith(_SEVEN_BIT_STATEFUL):
        return data.decode(codec, "replace")  # ISO-2022-JP and UTF-7 are written in ASCII bytes
    if data.isascii():
        return data.decode("ascii")
    attempts = []
    if codec is None or codec in _LATIN_SINGLE_BYTE:
        attempts.append("utf-8")  # mislabelled UTF-8 is far more common than Latin-1 that is valid UTF-8
    if codec:
        attempts.append(codec)
    attempts += ["utf-8", "cp1252"]
    for name in attempts:
        try:
            return data.decode(name)
        except (UnicodeError, LookupError):
            if name == "utf-8" and _mostly_utf8(data):
                return data.decode("utf-8", "replace")  # UTF-8 with a few broken bytes, not Windows-1252
            continue
    return data.decode("latin-1")


def _mostly_utf8(data: bytes) -> bool:
    """Valid UTF-8 but for a few bytes (a truncated or damaged tail), with real multi-byte text."""
    text = data.decode("utf-8", "replace")
    broken = text.count("\ufffd")
    return broken * 100 < len(text) and any(ord(c) > 0x7F and c != "\ufffd" for c in text)


def sniff_text(data: bytes, declared: str | None) -> str | None:
    """The text of bytes that are text whatever their declared type; None for binary."""
    if not data:
        return None
    head = data[:8192]
    utf16 = head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
    if b"\x00" in head and not utf16:
        return None
    text = decode_bytes(data, declared)
    sample = text[:8192]
    controls = sum(1 for c in sample if (ord(c) < 32 and c not in "\t\n\r\f\v\x1b") or c == "\ufffd")
    return text if controls <= len(sample) * 0.02 else None
