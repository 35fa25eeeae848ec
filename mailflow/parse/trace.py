"""Our own trace field: the ``Received:`` the spool puts on top of every message it stores.

RFC 5321 §4.4 asks every server that accepts a message to add one. Ours reads::

    Received: from HELO (RDNS-or-unknown [CLIENT-IP])
        by OUR-HOSTNAME (mailflow) with ESMTP; Tue, 01 Dec 2026 14:00:00 +0000

(folded with a tab before "by") for SMTP and LMTP (``with SMTP``, ``ESMTP``, ``ESMTPS``,
``ESMTPSA``, ``LMTP``), and for the other ways in
``Received: by OUR-HOSTNAME (mailflow) with local (uid N); DATE`` (a pipe) or
``Received: from IMAP-HOST by OUR-HOSTNAME (mailflow) with IMAP; DATE``. Imported history gets
none: it was received long ago, by someone else, and says so in its own fields.

The comment ``(mailflow)`` right after our hostname marks the field as ours (``is_own``), for
whoever reads a stored message. The pipeline does not read it: it understands the bytes as the
client sent them (the last ``size`` bytes of the blob, mailflow.pipeline), so a
sender's look-alike of our field is just another header line, and authentication never skips
one.

The client's HELO name is the client's to choose: it is reduced to printable ASCII without the
characters that would end the comment or the field, and shortened.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from ipaddress import ip_address

MARK = "(mailflow)"
_OWN = re.compile(r"(?:^|\s)by\s+\S+\s+\(mailflow\)(?:\s|;)", re.ASCII)
_UNSAFE = re.compile(r"[^!-~]|[()\\;<>]")  # outside printable ASCII, or would break the field
MAX_NAME = 255


@dataclass(frozen=True, slots=True)
class Trace:
    """What our Received field says; the spool adds the date when it stores the message."""

    by: str
    """Our hostname ([intake] hostname)."""
    protocol: str
    """The "with" word: SMTP, ESMTP, ESMTPS, ESMTPSA, LMTP, local, IMAP."""
    helo: str | None = None
    """The name the client gave in HELO/EHLO/LHLO (as it gave it; shown cleaned)."""
    peer: str | None = None
    """The client's IP address (SMTP, LMTP, submission)."""
    rdns: str | None = None
    """The client's reverse DNS name, confirmed forward; None is shown as "unknown"."""
    source: str | None = None
    """For IMAP: the server the message was fetched from."""
    comment: str | None = None
    """A last word after the protocol, e.g. "uid 1000" for a pipe."""

    def field(self, when: datetime, newline: bytes = b"\r\n") -> bytes:
        """The whole field, folded, ending with ``newline``."""
        by = f"by {clean(self.by) or 'localhost'} {MARK} with {self.protocol}"
        if self.comment:
            by += f" ({clean(self.comment, keep_spaces=True)})"
        by += f"; {format_datetime(when)}"
        if self.peer is not None:
            helo = clean(self.helo or "") or "unknown"
            rdns = clean(self.rdns or "") or "unknown"
            first = f"Received: from {helo} ({rdns} {literal(self.peer)})"
            text = f"{first}{newline.decode()}\t{by}"
        elif self.source:
            text = f"Received: from {clean(self.source) or 'unknown'}{newline.decode()}\t{by}"
        else:
            text = f"Received: {by}"
        return text.encode("ascii") + newline


def clean(text: str, *, keep_spaces: bool = False) -> str:
    """A client-given name made safe inside our field: printable ASCII, nothing that ends a comment."""
    if keep_spaces:
        return " ".join(clean(word) for word in text.split())[:MAX_NAME]
    return _UNSAFE.sub("?", text)[:MAX_NAME]


def literal(peer: str) -> str:
    """The client's address as an RFC 5321 address literal: ``[192.0.2.1]``, ``[IPv6:2001:db8::1]``."""
    try:
        address = ip_address(peer.split("%", 1)[0])
    except ValueError:
        return f"[{clean(peer)}]"
    return f"[IPv6:{address.compressed}]" if address.version == 6 else f"[{address.compressed}]"


def newline_of(raw: bytes) -> bytes:
    """The message's own line ending (CRLF over SMTP; often LF from a pipe), for our field to match."""
    end = raw.find(b"\n")
    return b"\n" if end > 0 and raw[end - 1 : end] != b"\r" else b"\r\n"


def is_own(name: str, value: str) -> bool:
    """Is this header field (name, unfolded value) a trace field of ours?"""
    return name.lower() == "received" and _OWN.search(value) is not None


def without_trace(stored: bytes) -> bytes:
    """The bytes as the client sent them: ``stored`` without our Received field, if it begins with one."""
    if stored[:9].lower() != b"received:":
        return stored
    end = 0
    while True:
        newline = stored.find(b"\n", end)
        if newline < 0:
            return stored
        end = newline + 1
        if stored[end : end + 1] not in (b" ", b"\t"):
            break
    value = re.sub(rb"\r?\n[ \t]", b" ", stored[9:end]).decode("ascii", "replace")
    return stored[end:] if is_own("received", value) else stored
