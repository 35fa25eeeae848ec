"""Building test messages: small, explicit, CRLF line endings as on the wire."""

from __future__ import annotations

import email
import email.policy
import uuid
from email.message import Message
from itertools import count

_ids = count(1)


def report(
    subject: str = "Report: harassment in the #general channel",
    body: str = "On Tuesday a participant sent me repeated private messages after I asked them to stop.\n",
    *,
    sender: str = "Jane Reporter <jane@example.net>",
    to: str = "conduct@example.org",
    message_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    mid = message_id or f"msg-{next(_ids)}.{uuid.uuid4().hex[:8]}@example.net"
    lines = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        "Date: Tue, 03 Nov 2026 10:00:00 +0000",
        f"Message-ID: <{mid}>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    text = "\r\n".join(lines) + "\r\n\r\n" + body.replace("\r\n", "\n").replace("\n", "\r\n")
    return text.encode("utf-8")


def parse(raw: bytes) -> Message:
    return email.message_from_bytes(raw, policy=email.policy.default)


def header(raw: bytes, name: str) -> str:
    value = parse(raw)[name]
    return "" if value is None else str(value)
