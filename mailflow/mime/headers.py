"""Header fields, decoded once: the one RFC 2047 decoder, unfolding, and the address lists.

Every reader of a header goes through here: the inbound parse (threading, the diary), the
classifier, authentication and the policy gate. Decoding never fails: an encoded word that cannot
be decoded stays as written, undecodable 8-bit bytes are read as UTF-8, else Windows-1252.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass
from email.utils import getaddresses

from mailflow.mime.charset import decode_bytes
from mailflow.mime.reading import Budget

__all__ = ["Header", "Mailbox", "address_pairs", "b64decode", "decode_words", "mailboxes", "one_line", "unfold"]

_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?(.*?)\?=")
_FOLD = re.compile(r"\r?\n(?=[ \t])")
_LINE_BREAKS = re.compile(r"[\r\n]+\s*")
_B64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_SURROGATE = re.compile("[\udc80-\udcff]+")
_MAX_ADDRESS_FIELD = 64 * 1024  # characters of one address field parsed (longer: the rest is not addresses)
_HOSTNAME = re.compile(r"[a-z0-9-]+(?:\.[a-z0-9-]+)*\.?")
_DOMAIN = re.compile(r'[^\s"<>()\[\],;:\\@]+|\[[^\[\]\\]*\]')  # a name, or a [literal]
_MAX_COMMENT_DEPTH = 8  # nested comments kept as written; deeper parentheses are dropped (their text stays)


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    """As written (case kept)."""
    raw: str
    """Unfolded, not decoded (undecodable 8-bit bytes as surrogates, as the stdlib keeps them)."""
    value: str
    """Unfolded and decoded (RFC 2047 encoded words, 8-bit UTF-8 or Windows-1252)."""

    @property
    def key(self) -> str:
        return self.name.strip().lower()


@dataclass(frozen=True, slots=True)
class Mailbox:
    name: str
    """The display name, decoded, on one line."""
    address: str
    """The address: local part as written, domain lowercased."""


def unfold(value: str) -> str:
    return _FOLD.sub("", value)


def one_line(value: str) -> str:
    """Line breaks and the whitespace after them as one space; no NUL characters."""
    text = _LINE_BREAKS.sub(" ", value).strip()
    return text.replace("\x00", "") if "\x00" in text else text


def unsurrogate(text: str) -> str:
    """Text that the stdlib read with its 8-bit bytes as surrogates, decoded: runs of valid UTF-8
    as UTF-8, any other byte as Windows-1252 (a header with one stray byte keeps its UTF-8)."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        pass
    mixed = text.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
    return _SURROGATE.sub(lambda m: bytes(ord(c) - 0xDC00 for c in m.group()).decode("cp1252", "replace"), mixed)


def b64decode(data: bytes) -> bytes:
    """Forgiving base64: stray characters dropped, bad padding repaired; b'' when hopeless."""
    clean = _B64_JUNK.sub(b"", data)
    if len(clean) % 4 == 1:
        clean = clean[:-1]
    clean += b"=" * (-len(clean) % 4)
    try:
        return binascii.a2b_base64(clean)
    except (binascii.Error, ValueError):
        return b""


def decode_words(value: str, budget: Budget | None = None) -> str:
    """Unfold and decode RFC 2047 encoded words, joining adjacent words of one charset before
    decoding (a multi-byte character split over two words) and dropping the whitespace between
    encoded words (RFC 2047 section 6.2). Beyond the budget's encoded words, the rest stays as written."""
    value = unfold(unsurrogate(value))
    if "=?" not in value:
        return value
    pieces: list[tuple[str | None, list[bytes] | str]] = []  # (charset, [bytes, ...]) or (None, text)
    pos = 0
    for m in _ENCODED_WORD.finditer(value):
        if budget is not None and not budget.encoded_word():
            break
        between = value[pos : m.start()]
        if between and not (between.isspace() and pieces and pieces[-1][0] is not None):
            pieces.append((None, between))
        charset = m.group(1).split("*", 1)[0].lower()
        encoded = m.group(3)
        if m.group(2) in "bB":
            data = b64decode(encoded.encode("ascii", "ignore"))
        else:
            data = binascii.a2b_qp(encoded.encode("utf-8", "replace"), header=True)
        previous = pieces[-1][1] if pieces and pieces[-1][0] == charset else None
        if isinstance(previous, list):
            previous.append(data)
        else:
            pieces.append((charset, [data]))
        pos = m.end()
    if not pieces:
        return value
    pieces.append((None, value[pos:]))
    return "".join(p if isinstance(p, str) else decode_bytes(b"".join(p), cs) for cs, p in pieces)


_PLAIN_ADDRESS = re.compile(r"[^\s<>()\[\]\",;:@\\]{1,64}@[^\s<>()\[\]\",;:@\\]{1,255}")
_MAX_PLAIN = 100


def flatten_address_field(value: str) -> str:
    """The field with what makes the standard library's address parser recurse taken out, in one
    linear pass: comments nested deeper than a few levels (their parentheses dropped, their text
    kept) and a group opened inside a group (RFC 5322 groups do not nest: the inner ``:`` becomes a
    list separator). Quoted strings, escapes and ``<...>`` are left as written. A field that needs neither
    change comes back unchanged."""
    if "(" not in value and value.count(":") < 2:
        return value
    out: list[str] = []
    depth = 0  # comment nesting
    quoted = escaped = False
    angle = False
    group = False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and (quoted or depth):
            escaped = True
        elif quoted:
            quoted = ch != '"'
        elif ch == "(":
            depth += 1
            if depth > _MAX_COMMENT_DEPTH:
                continue
        elif ch == ")" and depth:
            depth -= 1
            if depth >= _MAX_COMMENT_DEPTH:
                continue
        elif depth:
            pass
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == ":" and not angle:
            if group:
                ch = ","
            group = True
        elif ch == ";" and not angle:
            group = False
        out.append(ch)
    return "".join(out)


def address_pairs(value: str) -> list[tuple[str, str]]:
    """(display name, address) pairs of one address field as the standard library reads them
    (``email.utils.getaddresses``), after :func:`flatten_address_field`; ``[]`` where it still fails."""
    try:
        return getaddresses([flatten_address_field(value[:_MAX_ADDRESS_FIELD])])
    except (RecursionError, ValueError, IndexError, TypeError):  # crafted input the stdlib chokes on
        return []


def ascii_domain(domain: str) -> str:
    """A domain lowercased, internationalised labels in their ASCII form (IDNA A-labels, as they
    travel in mail headers and over SMTP without SMTPUTF8); as written when it has no such form."""
    domain = domain.lower()
    if domain.isascii():
        return domain
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain
    return encoded if _HOSTNAME.fullmatch(encoded) else domain


def mailboxes(values: list[str] | tuple[str, ...], budget: Budget | None = None) -> tuple[Mailbox, ...]:
    """The mailboxes of address fields (From, To, Cc, Reply-To ...), parsed before decoding (an
    encoded display name may hold commas and quotes), names decoded after. Only entries with an
    address are kept; an internationalised domain is given in its ASCII form. Never raises: a field
    the parser cannot read yields what it could."""
    found: list[Mailbox] = []
    for value in values:
        text = unfold(unsurrogate(value))[:_MAX_ADDRESS_FIELD]
        pairs = address_pairs(text) or [("", found) for found in _PLAIN_ADDRESS.findall(text)[:_MAX_PLAIN]]
        for name, address in pairs:
            address = address.strip().strip("<>")
            if not address or "@" not in address:
                continue
            local, _, domain = address.rpartition("@")
            if not local or not _DOMAIN.fullmatch(domain):
                continue
            display = one_line(decode_words(name, budget))
            found.append(
                Mailbox("" if display.casefold() == address.casefold() else display, f"{local}@{ascii_domain(domain)}")
            )
    return tuple(found)
