"""Build the bytes of an outgoing mail. Its Message-ID is fixed here, once, when it is drafted.

The mails we write have one shape: text/plain, or multipart/alternative with an HTML part. For that
shape this module writes the MIME itself with the standard library's encoders (RFC 2047 words via
``email.header``, addresses via ``email.utils.formataddr``, quoted-printable via ``quopri``):
``email.message.EmailMessage`` with its generator costs 1.3-1.9 ms a mail here, more than the rest
of a report's processing together (benchmarks/README.md). tests/outbound/test_compose.py reads
every composed mail back with the standard library's strict parser.
"""

from __future__ import annotations

import base64
import quopri
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import encode_rfc2231, format_datetime, formataddr

from mailflow.outbound.render import one_line
from mailflow.parse.message import Address

_MAX_LINE = 998
_TOKEN = re.compile(r"[A-Za-z0-9.+-]+")


@dataclass(frozen=True, slots=True)
class OutAttachment:
    """A file carried along (a member's attachment on a relayed mail), sent base64-encoded."""

    filename: str
    content_type: str
    data: bytes
    charset: str | None = None
    """For text: the charset it declared, kept so that the recipient reads what the gate read."""


@dataclass(frozen=True, slots=True)
class Draft:
    """Everything a mail says, before it has a Message-ID."""

    from_name: str
    from_addr: str
    to: tuple[Address, ...]
    subject: str
    text: str
    html: str | None = None
    reply_to: str | None = None
    cc: tuple[Address, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    auto_submitted: str | None = None  # "auto-replied" for automatic answers (RFC 3834)
    headers: tuple[tuple[str, str], ...] = ()
    attachments: tuple[OutAttachment, ...] = ()


def new_message_id(domain: str) -> str:
    """Unique, and in the order made: the milliseconds since 1970 in fixed-width hex, then 64 random
    bits. The outbox's unique index then grows at its right edge instead of at a random page of a
    large index (after a million cases, a random page is rarely in memory)."""
    return f"mf.{time.time_ns() // 1_000_000:011x}{secrets.token_hex(8)}@{domain}"


def _ascii(value: str) -> bool:
    return value.isascii()


def _unstructured(name: str, value: str) -> str:
    """A header line; non-ASCII text as RFC 2047 encoded words, long lines folded."""
    value = one_line(value)
    if _ascii(value) and len(name) + 2 + len(value) <= 78:
        return f"{name}: {value}"
    if _ascii(value):
        return _fold(f"{name}: {value}")
    return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep="\r\n")


def _fold(line: str) -> str:
    """Fold an ASCII header line at spaces so that no line is longer than 78 characters."""
    out, current = [], ""
    for word in line.split(" "):
        if current and len(current) + 1 + len(word) > 78 and not current.endswith(":"):
            out.append(current)
            current = " " + word
        else:
            current = f"{current} {word}" if current else word
    out.append(current)
    return "\r\n".join(out)


def _mailbox(name: str, address: str) -> str:
    if address.isascii():
        return formataddr((one_line(name), address), charset="utf-8")
    # An internationalised address (RFC 6532: UTF-8 in the header, sent with SMTPUTF8); the
    # display name is encoded as for any other address.
    shown = formataddr((one_line(name), "x@x"), charset="utf-8")[: -len("<x@x>")].rstrip()
    return f"{shown} <{address}>" if shown else address


def _mailboxes(name: str, addresses: Sequence[Address]) -> str:
    return _fold(f"{name}: " + ", ".join(_mailbox(a.name, a.address) for a in addresses))


def _body(text: str, subtype: str) -> str:
    """A text part: 7bit when it can be, else UTF-8 quoted-printable."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if text.isascii() and all(len(line) <= _MAX_LINE for line in lines):
        return (
            f'Content-Type: text/{subtype}; charset="us-ascii"\r\nContent-Transfer-Encoding: 7bit\r\n\r\n'
            + "\r\n".join(lines)
        )
    encoded = quopri.encodestring(text.encode("utf-8")).decode("ascii").replace("\n", "\r\n")
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'
        + encoded
    )


def compose(draft: Draft, message_id: str, date: datetime) -> bytes:
    lines = [
        _fold("From: " + _mailbox(draft.from_name, draft.from_addr)),
        _mailboxes("To", draft.to),
    ]
    if draft.cc:
        lines.append(_mailboxes("Cc", draft.cc))
    if draft.reply_to:
        lines.append(_fold("Reply-To: " + _mailbox(draft.from_name, draft.reply_to)))
    lines += [
        _unstructured("Subject", draft.subject),
        f"Date: {format_datetime(date)}",
        f"Message-ID: <{message_id}>",
    ]
    if draft.in_reply_to:
        lines.append(f"In-Reply-To: <{draft.in_reply_to}>")
    if draft.references:
        lines.append(_fold("References: " + " ".join(f"<{m}>" for m in draft.references[-20:])))
    if draft.auto_submitted:
        lines += [f"Auto-Submitted: {draft.auto_submitted}", "X-Auto-Response-Suppress: All"]
    lines += [_unstructured(name, value) for name, value in draft.headers]
    lines.append("MIME-Version: 1.0")
    content = _content(draft)
    if draft.attachments:
        boundary = "=_mf_" + secrets.token_hex(12)
        parts = [content.rstrip("\r\n"), *(_attachment(a) for a in draft.attachments)]
        content = (
            f'Content-Type: multipart/mixed; boundary="{boundary}"\r\n'
            + "".join(f"\r\n--{boundary}\r\n{part}" for part in parts)
            + f"\r\n--{boundary}--\r\n"
        )
    return ("\r\n".join(lines) + "\r\n" + content.rstrip("\r\n") + "\r\n").encode("utf-8")


def _content(draft: Draft) -> str:
    """The readable part: text/plain, or multipart/alternative with the HTML."""
    text_part = _body(draft.text, "plain")
    if draft.html is None:
        return text_part
    boundary = "=_mf_" + secrets.token_hex(12)
    return (
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\n{text_part.rstrip()}\r\n--{boundary}\r\n"
        f"{_body(draft.html, 'html').rstrip()}\r\n--{boundary}--\r\n"
    )


def _attachment(attachment: OutAttachment) -> str:
    maintype, _, subtype = attachment.content_type.partition("/")
    ctype = f"{maintype}/{subtype}" if maintype and subtype and _TOKEN.fullmatch(maintype + subtype) else ""
    ctype = ctype or "application/octet-stream"
    charset = attachment.charset if attachment.charset and _TOKEN.fullmatch(attachment.charset) else None
    if charset and maintype == "text":
        ctype += f'; charset="{charset}"'
    name = one_line(attachment.filename) or "attachment"
    if name.isascii() and '"' not in name and "\\" not in name:
        disposition = f'attachment; filename="{name}"'
    else:
        disposition = "attachment; filename*=" + encode_rfc2231(name, "utf-8")
    encoded = base64.encodebytes(attachment.data).decode("ascii").replace("\n", "\r\n")
    return (
        f"Content-Type: {ctype}\r\nContent-Disposition: {disposition}\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{encoded.rstrip()}"
    )
