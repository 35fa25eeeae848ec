"""What our own Received field looks like on a stored message (mailflow.parse.trace)."""

from __future__ import annotations

import re

_DATE = rb"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d \+0000"


def smtp_trace(helo: str, protocol: str = "ESMTP", by: str = "localhost", peer: str = "127.0.0.1") -> re.Pattern[bytes]:
    """``Received: from HELO (NAME [PEER])<CRLF><TAB>by BY (mailflow) with PROTOCOL; DATE<CRLF>``;
    NAME is whatever the machine's resolver confirms for PEER (e.g. localhost), or "unknown"."""
    return re.compile(
        rb"Received: from " + re.escape(helo.encode()) + rb" \([!-~]+ \[" + re.escape(peer.encode()) + rb"\]\)\r\n"
        rb"\tby " + re.escape(by.encode()) + rb" \(mailflow\) with " + protocol.encode() + rb"; " + _DATE + rb"\r\n"
    )


def local_trace(by: str = "localhost", newline: bytes = b"\n") -> re.Pattern[bytes]:
    return re.compile(
        rb"Received: by "
        + re.escape(by.encode())
        + rb" \(mailflow\) with local \(uid \d+\); "
        + _DATE
        + re.escape(newline)
    )


def imap_trace(host: str, by: str = "localhost") -> re.Pattern[bytes]:
    return re.compile(
        rb"Received: from "
        + re.escape(host.encode())
        + rb"\r\n\tby "
        + re.escape(by.encode())
        + rb" \(mailflow\) with IMAP; "
        + _DATE
        + rb"\r\n"
    )


def split(stored: bytes, sent: bytes) -> bytes:
    """The trace of ``stored`` (which must be that trace followed by exactly ``sent``)."""
    assert stored.endswith(sent) and len(stored) > len(sent), "stored bytes are not trace + sent bytes"
    return stored[: len(stored) - len(sent)]
