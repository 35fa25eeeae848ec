"""Other readings of a text, where a name can hide behind an encoding a recipient's software undoes.

From any text (a body, an attribute value, a document's text) :func:`derived_texts` gives:

* "HTML entities decoded": entities left in plain text or in a document ("Alice&nbsp;Liddell",
  "&#65;lice", "&#x41;lice"), as a mail client or a browser shows them.
* "percent-decoded": runs of %XX escapes, as in a fully escaped "mailto:%61%6c%69..." or a query
  string "?name=Alice%20Liddell". Each run is decoded as UTF-8, or Windows-1252 when it is not
  UTF-8. "+" is left as it is: it means a space only in form data, and a name with a "+" between
  its words is found by the matcher anyway.
* "base64-decoded": runs of at least 16 base64 characters (standard or URL-safe alphabet), on one
  line or over several lines that hold nothing else, that decode to mostly printable text. The
  decoded runs are given one per line, without the text around them.

A derived text is given only when it differs from the input. Each derivation is linear and its
output is at most the size of its input (base64: three quarters), so all of them together stay
under :data:`MAX_FACTOR` times the input.
"""

from __future__ import annotations

import binascii
import html
import re

from mailflow.mime.reading import Reading, Text

__all__ = ["BASE64", "ENTITIES", "MAX_FACTOR", "PERCENT", "derived_texts", "with_derived"]

ENTITIES = "HTML entities decoded"
PERCENT = "percent-decoded"
BASE64 = "base64-decoded"
MAX_FACTOR = 3  # the derived texts of one text are at most this many times its size

_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?")
_PERCENT_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
_B64_LINE = re.compile(r"[ \t>]*([A-Za-z0-9+/_-]+={0,2})[ \t]*")
_B64_TOKEN = re.compile(r"(?<![A-Za-z0-9+/_-])([A-Za-z0-9+/_-]{16,}={0,2})")
_B64_MIN = 16
_URLSAFE = bytes.maketrans(b"-_", b"+/")


def derived_texts(text: str) -> list[tuple[str, str]]:
    """(label, text) for each other reading of ``text`` that differs from it, labels from
    :data:`ENTITIES`, :data:`PERCENT`, :data:`BASE64`."""
    found: list[tuple[str, str]] = []
    if "&" in text and _ENTITY.search(text):
        unescaped = html.unescape(text)
        if unescaped != text:
            found.append((ENTITIES, unescaped))
    if "%" in text:
        decoded = _PERCENT_RUN.sub(_decode_percent_run, text)
        if decoded != text:
            found.append((PERCENT, decoded))
    runs = _base64_runs(text)
    if runs:
        found.append((BASE64, "\n".join(runs)))
    return found


def with_derived(reading: Reading) -> Reading:
    """``reading`` with the derived texts of each of its texts added after it, their ``where``
    being the text's ``where`` and the label: "page 2 in report.pdf (percent-decoded)"."""
    texts: list[Text] = []
    for text in reading.texts:
        texts.append(text)
        texts.extend(Text(f"{text.where} ({label})", derived) for label, derived in derived_texts(text.text))
    return Reading(tuple(texts), reading.unread)


def _decode_percent_run(match: re.Match[str]) -> str:
    data = bytes.fromhex(match.group().replace("%", ""))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _base64_runs(text: str) -> list[str]:
    """The decoded text of each base64 run of ``text`` that decodes to printable text.

    A run over several lines is a block of lines holding nothing but base64, all as long as the
    first but the last one (as encoders write them), so that a short line before it ("Hi") is not
    taken as its start.
    """
    runs: list[str] = []
    block: list[str] = []
    for line in text.splitlines():
        whole = _B64_LINE.fullmatch(line)
        if whole is None:
            _flush(block, runs)
            for token in _B64_TOKEN.finditer(line):
                _flush([token.group(1)], runs)
            continue
        chunk = whole.group(1)
        if block and (len(block[-1]) != len(block[0]) or len(chunk) > len(block[0])):
            _flush(block, runs)
        block.append(chunk)
        if chunk.endswith("="):
            _flush(block, runs)
    _flush(block, runs)
    return runs


def _flush(block: list[str], runs: list[str]) -> None:
    """Decode the base64 lines of ``block`` (emptied) into ``runs`` when they make printable text."""
    chars = "".join(block)
    block.clear()
    if len(chars.rstrip("=")) < _B64_MIN:
        return
    decoded = _printable(_b64decode(chars))
    if decoded is not None:
        runs.append(decoded)


def _b64decode(chars: str) -> bytes:
    clean = chars.rstrip("=").encode("ascii").translate(_URLSAFE)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except (binascii.Error, ValueError):
        return b""


def _printable(data: bytes) -> str | None:
    """The text of ``data`` when it is printable text with some letters: UTF-8 with at least 90%
    printable characters, or else Windows-1252 with at least 85% printable ASCII (random bytes, such
    as an ordinary long word read as base64, are neither). None for binary."""
    if not data:
        return None
    try:
        text = data.decode("utf-8")
        printable = sum(1 for c in text if c.isprintable() or c in "\t\r\n")
        needed = 0.9
    except UnicodeDecodeError:
        text = data.decode("cp1252", "replace")
        printable = sum(1 for c in text if c.isascii() and (c.isprintable() or c in "\t\r\n"))
        needed = 0.85
    letters = sum(1 for c in text if c.isalpha())
    if printable < len(text) * needed or letters < len(text) * 0.3:
        return None
    return text
