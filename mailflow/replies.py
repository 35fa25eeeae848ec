"""SMTP replies, named, with their enhanced status codes (RFC 3463)."""

from __future__ import annotations

RCPT_OK = "250 2.1.5 Recipient ok"
NO_SUCH_USER = "550 5.1.1 No such recipient here: this service accepts mail for its conduct address only"
TOO_BIG = "552 5.3.4 Message too big for this service"
LINE_TOO_LONG = "500 5.5.2 Line too long"
TRY_AGAIN = "451 4.3.0 Temporary failure storing the message; please try again later"


def queued(inbound_id: int) -> str:
    return f"250 2.0.0 Ok: stored as message {inbound_id}"
