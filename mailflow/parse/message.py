"""Raw bytes -> ParsedMessage, a frozen value that the rest of the flow reads instead of headers.

The one MIME reading (``mailflow.mime.tree``) takes the message apart once; this module picks out
what threading, classification and the diary need, normalises it once, and never raises on odd
input except with ParseFailure naming why. The part tree travels with the message
(``ParsedMessage.tree``), so that nobody after us parses the bytes again.

Which parts are the body follows the rules mail clients (and mail-parser, which we used before)
apply: every text/plain or text/html part, at any depth (also inside a forwarded message), that is
not an attachment; a part is an attachment when it has a file name, a Content-ID without being
text, is RTF, or says ``Content-Disposition: attachment``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from types import MappingProxyType

from mailflow.errors import ParseFailure
from mailflow.mime.charset import decode_bytes
from mailflow.mime.headers import Mailbox
from mailflow.mime.html import html_to_text
from mailflow.mime.reading import Budget
from mailflow.mime.tree import MessageTree, Part, read_message
from mailflow.parse.trace import is_own

_MSGID_RE = re.compile(r"<([^<>\s]+)>")


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
    sha256: str = ""


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
    tree: MessageTree | None = field(default=None, compare=False, repr=False)
    """The message's parts as the MIME reading took them apart (None only for hand-made values)."""

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


def _addresses(found: tuple[Mailbox, ...]) -> tuple[Address, ...]:
    return tuple(Address(_clean(m.name), _clean(m.address)) for m in found)


def _date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def parse_message(raw: bytes, budget: Budget | None = None) -> ParsedMessage:
    """Parse raw RFC 5322 bytes. Raises ParseFailure with a reason when nothing can be made of them."""
    if not raw.strip():
        raise ParseFailure("empty message")
    tree = read_message(raw, budget)
    if not any(not is_own(h.key, h.raw) for h in tree.headers):  # our own trace on top is not the sender's
        if tree.unread:
            raise ParseFailure(tree.unread[0].reason)
        raise ParseFailure("no header fields: not an internet message (RFC 5322)")
    return _build(tree)


@dataclass(frozen=True, slots=True)
class _Bodies:
    plain: str
    html: str | None
    attachments: tuple[Attachment, ...]


def _is_attachment(part: Part) -> bool:
    if part.filename:
        return True
    if part.content_id and part.subtype not in ("html", "plain"):
        return True
    return part.subtype == "rtf" or part.disposition == "attachment"


def _bodies(tree: MessageTree) -> _Bodies:
    """Body texts and attachments, in message order (see the module's docstring for the rules)."""
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    for part in tree.walk():
        is_container = bool(part.children) or (part.attached is not None and not part.data)
        if is_container and part.disposition != "attachment":
            continue
        if _is_attachment(part):
            attachments.append(Attachment(part.filename, part.content_type, len(part.data), part.sha256))
            if not (part.disposition == "inline" and part.subtype in ("plain", "html")):
                continue
        if part.subtype not in ("plain", "html") or is_container:
            continue
        text = decode_bytes(part.data, part.charset)
        if text:
            (html if part.subtype == "html" else plain).append(text)
    if not plain and not html and tree.root.maintype == "multipart" and not tree.root.children:
        # A multipart that declares no boundary has one part in effect: its whole body, as text.
        plain.append(decode_bytes(tree.root.data, tree.root.charset) or (tree.root.preamble or ""))
    return _Bodies("\n".join(plain), "\n".join(html) or None, tuple(attachments))


def _build(tree: MessageTree) -> ParsedMessage:
    bodies = _bodies(tree)
    index: dict[str, list[str]] = {}
    for header in tree.headers:
        index.setdefault(header.key, []).append(_clean(header.value))
    headers = MappingProxyType({k: tuple(v) for k, v in index.items()})
    mid = message_ids(tree.header("message-id"))
    from_html = not bodies.plain.strip() and bool(bodies.html)
    senders = _addresses(tree.addresses("from"))
    return ParsedMessage(
        message_id=mid[0] if mid else None,
        in_reply_to=message_ids(" ".join(tree.raw_header_all("in-reply-to"))),
        references=message_ids(" ".join(tree.raw_header_all("references"))),
        from_addr=senders[0] if senders else None,
        reply_to=_addresses(tree.addresses("reply-to")),
        to=_addresses(tree.addresses("to")),
        cc=_addresses(tree.addresses("cc")),
        subject=tree.header("subject"),
        date=_date(tree.header("date")),
        text=_clean(bodies.plain if not from_html else html_to_text(bodies.html or "")),
        html=_clean(bodies.html) if bodies.html else None,
        content_type=tree.root.content_type,
        text_from_html=from_html,
        attachments=bodies.attachments,
        defects=_defects(tree),
        headers=headers,
        tree=tree,
    )


def _defects(tree: MessageTree) -> tuple[str, ...]:
    found: list[str] = []
    for part in tree.walk():
        source = part.source
        for defect in getattr(source, "defects", ()) if source is not None else ():
            found.append(f"{type(defect).__name__}: {type(defect).__doc__ or ''}".strip())
        found.extend(f"{u.where}: {u.reason}" for u in part.unread)
    found.extend(f"{u.where}: {u.reason}" for u in tree.unread)
    return tuple(found[:50])
