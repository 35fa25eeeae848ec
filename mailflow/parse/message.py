"""Raw bytes -> ParsedMessage, a frozen value that the rest of the flow reads instead of headers.

mail-parser does the MIME work (decoding, charset recovery, defects); this module picks out what
threading, classification and the diary need, normalises it once, and never raises on odd input
except with ParseFailure naming why.
"""

from __future__ import annotations

import email
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from types import MappingProxyType

import mailparser

from mailflow.errors import ParseFailure
from mailflow.mime.html import html_to_text

# mail-parser narrates every part it does not render ("Email content 'gif' not handled"):
# noise in an operator's log, and part names can echo attachment names.
logging.getLogger("mailparser").setLevel(logging.ERROR)
log = logging.getLogger(__name__)

_MSGID_RE = re.compile(r"<([^<>\s]+)>")
_LINE_BREAKS = re.compile(r"[\r\n]+\s*")


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    address: str  # local part as written, domain lowercased

    def __str__(self) -> str:
        return self.address


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str | None
    content_type: str
    size: int


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_addr: Address | None
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    subject: str
    date: datetime | None
    text: str
    html: str | None
    content_type: str
    text_from_html: bool = False
    """True when there was no plain-text part and ``text`` is the HTML rendered as text."""
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    headers: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))

    def header(self, name: str) -> str:
        """The first value of a header, decoded, or ''."""
        values = self.headers.get(name.lower(), ())
        return values[0] if values else ""

    def header_all(self, name: str) -> tuple[str, ...]:
        return self.headers.get(name.lower(), ())

    @property
    def recipients(self) -> tuple[Address, ...]:
        return self.to + self.cc

    @property
    def thread_ids(self) -> tuple[str, ...]:
        """In-Reply-To first, then References newest first: the order to try when threading."""
        seen: dict[str, None] = {}
        for mid in (*self.in_reply_to, *reversed(self.references)):
            seen.setdefault(mid, None)
        return tuple(seen)


def normalize_address(address: str) -> str:
    local, at, domain = address.strip().strip("<>").rpartition("@")
    return f"{local}@{domain.lower()}" if at else address.strip().lower()


def message_ids(value: str) -> tuple[str, ...]:
    """Message-IDs in a header value: ``<a@b>`` forms, else bare tokens (quoted, comma-separated)."""
    found = _MSGID_RE.findall(value)
    if not found:
        found = [t.strip("\"'<>") for t in re.split(r"[\s,]+", value) if "@" in t]
    unique: dict[str, None] = {}
    for mid in found:
        if mid:
            unique.setdefault(mid[:998], None)
    return tuple(unique)


def _clean(value: str) -> str:
    """No NUL characters: they are not text, and PostgreSQL refuses them in text columns."""
    return value.replace("\x00", "") if "\x00" in value else value


def _one_line(value: object) -> str:
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    return _clean(_LINE_BREAKS.sub(" ", str(value or "")).strip())


def _addresses(pairs: object) -> tuple[Address, ...]:
    result = []
    for pair in pairs or ():  # type: ignore[attr-defined]
        name, addr = pair
        if addr and "@" in addr:
            result.append(Address(_one_line(name), normalize_address(addr)))
    return tuple(result)


def _headers(message: Message) -> Mapping[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for name, value in message.items():
        index.setdefault(name.lower(), []).append(_one_line(_header_text(value)))
    return MappingProxyType({k: tuple(v) for k, v in index.items()})


def _header_text(value: object) -> str:
    try:
        return str(mailparser.utils.decode_header_part(value))
    except Exception:  # an undecodable header is kept as its raw text
        return str(value)


def _date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _attachments(mail: mailparser.MailParser) -> tuple[Attachment, ...]:
    result = []
    for item in mail.attachments:
        payload = item.get("payload") or ""
        result.append(
            Attachment(
                filename=_one_line(item.get("filename")) or None,
                content_type=str(item.get("mail_content_type") or "application/octet-stream"),
                size=len(payload),
            )
        )
    return tuple(result)


def _defects(mail: mailparser.MailParser) -> tuple[str, ...]:
    out: list[str] = []
    for group in mail.defects:
        for items in group.values():
            out.extend(str(i) for i in items)
    return tuple(out[:50])


def parse_message(raw: bytes) -> ParsedMessage:
    """Parse raw RFC 5322 bytes. Raises ParseFailure with a reason when nothing can be made of them.

    mail-parser first; where it gives up on a malformed structure the standard library's lenient
    parser is asked, so that a message quarantined is one nobody could read.
    """
    if not raw.strip():
        raise ParseFailure("empty message")
    raw = _headers_first(raw)
    try:
        mail = mailparser.parse_from_bytes(raw)
        return _build(mail.message, _bodies_from_mailparser(mail), _addresses_from_mailparser(mail), _defects(mail))
    except RecursionError:
        raise ParseFailure("MIME structure nested too deeply") from None
    except ParseFailure:
        raise
    except Exception as exc:
        log.info("mail-parser failed (%s); reading with the standard library", exc.__class__.__name__)
    try:
        message = email.message_from_bytes(raw, policy=compat32)
        return _build(message, _bodies_from_stdlib(message), _addresses_from_stdlib(message), ())
    except RecursionError:
        raise ParseFailure("MIME structure nested too deeply") from None
    except Exception as exc:
        raise ParseFailure(f"unreadable by mail-parser and the standard library: {exc.__class__.__name__}") from None


def _headers_first(raw: bytes) -> bytes:
    """Drop a leading byte-order mark and blank lines, which would otherwise read as "no headers".
    Only the parser sees this copy; the stored bytes stay as they came."""
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    while raw[start : start + 1] in (b"\r", b"\n", b" ", b"\t") and start < len(raw):
        start += 1
    return raw[start:] if start else raw


@dataclass(frozen=True, slots=True)
class _Bodies:
    plain: str
    html: str | None
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True, slots=True)
class _Addresses:
    from_: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    to: tuple[Address, ...]
    cc: tuple[Address, ...]


def _bodies_from_mailparser(mail: mailparser.MailParser) -> _Bodies:
    return _Bodies("\n".join(mail.text_plain), "\n".join(mail.text_html) or None, _attachments(mail))


def _addresses_from_mailparser(mail: mailparser.MailParser) -> _Addresses:
    return _Addresses(_addresses(mail.from_), _addresses(mail.reply_to), _addresses(mail.to), _addresses(mail.cc))


def _decode_payload(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    for charset in (part.get_content_charset(), "utf-8"):
        if charset:
            try:
                return payload.decode(charset)
            except (LookupError, UnicodeDecodeError):
                continue
    return payload.decode("latin-1")


def _bodies_from_stdlib(message: Message) -> _Bodies:
    plain, html, attachments = [], [], []
    for part in message.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        ctype = part.get_content_type()
        if filename or part.get_content_disposition() == "attachment" or not ctype.startswith("text/"):
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            attachments.append(Attachment(_one_line(_header_text(filename)) or None, ctype, size))
        elif ctype == "text/html":
            html.append(_decode_payload(part))
        else:
            plain.append(_decode_payload(part))
    return _Bodies("\n".join(plain), "\n".join(html) or None, tuple(attachments))


def _addresses_from_stdlib(message: Message) -> _Addresses:
    def get(name: str) -> tuple[Address, ...]:
        pairs = getaddresses([str(v) for v in message.get_all(name, [])])
        return _addresses([(_header_text(n), a) for n, a in pairs])

    return _Addresses(get("from"), get("reply-to"), get("to"), get("cc"))


def _unsplit_multipart(message: Message, bodies: _Bodies) -> _Bodies:
    """A multipart that declares no boundary has one part in effect: its whole body, as text."""
    if bodies.plain.strip() or bodies.html or message.is_multipart() or message.get_content_maintype() != "multipart":
        return bodies
    return _Bodies(_decode_payload(message), None, bodies.attachments)


def _build(message: Message, bodies: _Bodies, addresses: _Addresses, defects: tuple[str, ...]) -> ParsedMessage:
    bodies = _unsplit_multipart(message, bodies)
    headers = _headers(message)
    if not headers:
        raise ParseFailure("no header fields: not an internet message (RFC 5322)")
    mid = message_ids(headers.get("message-id", ("",))[0])
    date = headers.get("date", ("",))[0]
    from_html = not bodies.plain.strip() and bool(bodies.html)
    return ParsedMessage(
        message_id=mid[0] if mid else None,
        in_reply_to=message_ids(" ".join(headers.get("in-reply-to", ()))),
        references=message_ids(" ".join(headers.get("references", ()))),
        from_addr=addresses.from_[0] if addresses.from_ else None,
        reply_to=addresses.reply_to,
        to=addresses.to,
        cc=addresses.cc,
        subject=headers.get("subject", ("",))[0],
        date=_date(date),
        text=_clean(bodies.plain if not from_html else html_to_text(bodies.html or "")),
        html=_clean(bodies.html) if bodies.html else None,
        content_type=message.get_content_type(),
        text_from_html=from_html,
        attachments=bodies.attachments,
        defects=defects,
        headers=headers,
    )
