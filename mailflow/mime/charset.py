"""Bytes to text: never fails, and guesses right where names live.

:func:`decode_bytes` is the one charset decoder of the MIME reading. The order of its attempts:

1. A byte order mark (UTF-32 before UTF-16, UTF-8) wins over any declaration.
2. A declared UTF-16/UTF-32 (the byte order read from the NUL bytes when the label has none).
3. UTF-16/UTF-32 *without* a BOM, recognised from the pattern of NUL bytes ("A\\0l\\0i\\0..."): a
   CSV exported by Excel and sent as application/octet-stream with no charset looks like this.
   It comes before the declaration because a single-byte label on such bytes is always wrong.
4. A declared charset that decodes the bytes. Bytes labelled ASCII, Latin-1, Windows-125x or any
   other single-byte charset that are valid UTF-8 are read as UTF-8: mislabelled UTF-8 is far more
   common than Latin text that happens to be valid UTF-8.
5. UTF-8.
6. No usable declaration and not UTF-8: when the bytes read as Windows-1252 look like Latin text
   (words mixing ASCII and accented letters: "Liddéll", "Müller"), Windows-1252; otherwise
   charset-normalizer's best guess, from a sample of the first 64 KiB only. charset-normalizer
   tells scripts apart well (Cyrillic, Greek, CJK) but confuses the Latin code pages with each
   other ("Hélène" in Windows-1252 read as Windows-1250 is "Hélčne"), hence the Latin check first
   (Windows-1250 when Windows-1252 would put symbols inside words: "zg³oszenie" is "zgłoszenie").
7. Windows-1252, then Latin-1 (which decodes anything).

Everything is linear in the size of the input; the guess looks at a bounded sample.
"""

from __future__ import annotations

import codecs
import functools
import re

import charset_normalizer

__all__ = ["codec_name", "decode_bytes", "sniff_text", "wide_codec"]

GUESS_SAMPLE = 64 * 1024  # bytes charset-normalizer looks at to choose a codec
SNIFF_SAMPLE = 8192  # bytes (and characters) looked at to tell text from binary
_WIDE_SAMPLE = 4096

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_UNKNOWN = frozenset({"", "unknown-8bit", "x-unknown", "unknown", "default", "8bit", "binary", "none"})
_ALIASES = {
    "windows-874": "cp874",
    "x-sjis": "shift_jis",
    "x-gbk": "gbk",
    "x-mac-roman": "mac-roman",
    "x-mac-cyrillic": "mac-cyrillic",
    "iso-8859-8-i": "iso8859-8",
    "ks_c_5601-1987": "cp949",
    "utf8mb4": "utf-8",
    "unicode-1-1-utf-7": "utf-7",
    "x-user-defined": "latin-1",
}
_SINGLE_BYTE_PREFIXES = ("ascii", "latin", "iso8859", "cp125", "cp4", "cp8", "koi8", "mac-", "mac_", "kz1048", "ptcp")
_LETTERS = re.compile(r"[^\W\d_]{4,}")
# Windows-1250 letters (ł ą ż ľ Ą Ż Ł) that Windows-1252 reads as symbols (³ ¹ ¿ ¾ ¥ ¯ £) inside a word
_CENTRAL_EUROPEAN = re.compile(r"[^\W\d_][\xb3\xb9\xbf\xbe\xa5\xaf\xa3]|[\xb3\xb9\xbf\xbe\xa5\xaf\xa3][^\W\d_]")
_LATIN_PUNCTUATION = frozenset(
    "\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u20ac\u2022\u2122"
    "\xa0\xab\xbb\xb0\xb7\xa9\xae\xa7\xb6\xbf\xa1"
)


@functools.lru_cache(maxsize=256)
def codec_name(charset: str | None) -> str | None:
    """Python's name for a declared charset, or None when it is absent, unknown or not a text codec."""
    if not charset:
        return None
    name = charset.strip().strip("\"'").strip().lower()
    if name in _UNKNOWN:
        return None
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    return info.name if getattr(info, "_is_text_encoding", True) else None


def decode_bytes(data: bytes, declared: str | None) -> str:
    """The text of ``data``; never fails (see the module's docstring for the order of attempts)."""
    if not data:
        return ""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(name, "replace")
    codec = codec_name(declared)
    if codec is not None and codec.startswith(("utf-16", "utf-32")):
        if codec in ("utf-16", "utf-32"):
            codec = wide_codec(data) or codec + "-le"
        return data.decode(codec, "replace")
    wide = wide_codec(data)
    if wide is not None:
        return data.decode(wide, "replace")
    if codec is not None and codec.startswith(_SEVEN_BIT_STATEFUL):
        return data.decode(codec, "replace")  # ISO-2022-JP and UTF-7 are written in ASCII bytes
    if data.isascii() and (codec is None or _ascii_compatible(codec)):
        return data.decode("ascii")
    attempts: list[str] = []
    if codec is None or codec.startswith(_SINGLE_BYTE_PREFIXES):
        attempts.append("utf-8")
    if codec is not None:
        attempts.append(codec)
    attempts.append("utf-8")
    for name in attempts:
        try:
            return data.decode(name)
        except (UnicodeError, LookupError):
            continue
    if _mostly_utf8(data):
        return data.decode("utf-8", "replace")  # UTF-8 with a few damaged bytes, not a single-byte charset
    guess = _guess(data[:GUESS_SAMPLE])
    for name in (guess, "cp1252") if guess else ("cp1252",):
        try:
            return data.decode(name)
        except (UnicodeError, LookupError):
            continue
    return data.decode("latin-1")


_SEVEN_BIT_STATEFUL = ("iso2022", "utf_7", "utf-7", "hz")


def _mostly_utf8(data: bytes) -> bool:
    """Valid UTF-8 but for a few bytes (a truncated or damaged tail), with real multi-byte text."""
    text = data[:GUESS_SAMPLE].decode("utf-8", "replace")
    broken = text.count("\ufffd")
    return broken * 100 < len(text) and any(ord(c) > 0x7F and c != "\ufffd" for c in text)


def sniff_text(data: bytes, declared: str | None) -> str | None:
    """The text of ``data`` if it is text whatever its declared type (UTF-16/32 without BOM
    included), None for binary (NUL bytes that are not UTF-16/32, or over 2% control characters)."""
    if not data:
        return None
    head = data[:SNIFF_SAMPLE]
    codec = codec_name(declared)
    wide = (
        any(head.startswith(bom) for bom, name in _BOMS if name != "utf-8")
        or (codec is not None and codec.startswith(("utf-16", "utf-32")))
        or wide_codec(head) is not None
    )
    if b"\x00" in head and not wide:
        return None
    text = decode_bytes(data, declared)
    sample = text[:SNIFF_SAMPLE]
    controls = sum(1 for c in sample if (ord(c) < 32 and c not in "\t\n\r\f\v\x1b") or c == "\ufffd")
    return text if controls <= len(sample) * 0.02 else None


def wide_codec(data: bytes) -> str | None:
    """ "utf-32-le/be" or "utf-16-le/be" when the NUL bytes of ``data`` (first 4 KiB) say so, else None.

    UTF-16 of Latin text has a NUL in (nearly) every other byte, always on the same side; text in
    one other alphabet (Cyrillic, Greek) has NULs for its spaces and digits and few distinct high
    bytes; UTF-32 has two or three NULs in each group of four. CJK text in UTF-16 without a BOM has
    no such pattern and is left to the other attempts.
    """
    sample = data[:_WIDE_SAMPLE]
    if b"\x00" not in sample:
        return None
    quads = len(sample) // 4
    if quads and len(data) % 4 == 0:
        groups = [sample[i : i + 4] for i in range(0, quads * 4, 4)]
        if all(g[3] == 0 and g[2] <= 0x10 for g in groups) and _decodes(sample[: quads * 4], "utf-32-le"):
            return "utf-32-le"
        if all(g[0] == 0 and g[1] <= 0x10 for g in groups) and _decodes(sample[: quads * 4], "utf-32-be"):
            return "utf-32-be"
    pairs = len(sample) // 2
    if not pairs:
        return None
    low, high = sample[0 : pairs * 2 : 2], sample[1 : pairs * 2 : 2]
    if _high_half(high, low, pairs) and _decodes(sample[: pairs * 2], "utf-16-le"):
        return "utf-16-le"
    if _high_half(low, high, pairs) and _decodes(sample[: pairs * 2], "utf-16-be"):
        return "utf-16-be"
    return None


def _high_half(high: bytes, low: bytes, pairs: int) -> bool:
    """Whether ``high`` looks like the high bytes of UTF-16 code units: NUL in at least 30% of them
    (Latin text), or in at least 5% with at most four distinct values (one alphabet, such as
    Cyrillic 0x04, plus spaces and digits 0x00); NUL in very few low bytes."""
    zeros = high.count(0)
    if low.count(0) > pairs * 0.05:
        return False
    return zeros >= pairs * 0.3 or (zeros >= pairs * 0.05 and len(set(high)) <= 4)


def _decodes(sample: bytes, codec: str) -> bool:
    """Whether ``sample`` is valid in ``codec`` (a character cut at the end of the sample is fine)."""
    decoder = codecs.getincrementaldecoder(codec)("strict")
    try:
        decoder.decode(sample, final=False)
    except UnicodeError:
        return False
    return True


@functools.lru_cache(maxsize=64)
def _ascii_compatible(codec: str) -> bool:
    probe = "Az09 @.:<>=+-_/\r\n"
    try:
        return probe.encode(codec) == probe.encode("ascii")
    except (UnicodeError, LookupError):
        return False


def _guess(sample: bytes) -> str | None:
    """The codec of non-UTF-8 bytes without a usable declaration (see the module docstring)."""
    if _looks_latin(sample):
        return "cp1250" if _CENTRAL_EUROPEAN.search(sample.decode("cp1252")) else "cp1252"
    try:
        best = charset_normalizer.from_bytes(sample).best()
    except Exception:  # a guess is optional: never let it stop the decoding
        return None
    return best.encoding if best is not None else None


def _looks_latin(sample: bytes) -> bool:
    """Whether ``sample`` read as Windows-1252 looks like text in a Latin script: few letters
    outside ASCII (at most 30%: "é.txt", "Liddéll"), or most words of four letters or more with an
    accented letter also having an ASCII letter (French, German), unlike Cyrillic or Greek read as
    Windows-1252 ("Ïðèâåò"); without accented letters, when every other character is common
    Windows-1252 punctuation (curly quotes, dashes, the euro sign)."""
    try:
        text = sample.decode("cp1252")
    except UnicodeError:
        return False
    letters = accented_letters = 0
    for char in text:
        if char.isalpha():
            letters += 1
            accented_letters += not char.isascii()
    if not accented_letters:
        return all(c.isascii() or c in _LATIN_PUNCTUATION for c in text)
    if accented_letters <= letters * 0.3:
        return True
    accented = mixed = 0
    for match in _LETTERS.finditer(text):
        word = match.group()
        if not word.isascii():
            accented += 1
            mixed += any(c.isascii() for c in word)
    return accented > 0 and mixed >= accented * 0.6
