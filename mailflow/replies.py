"""SMTP replies, named, with their enhanced status codes (RFC 3463)."""

from __future__ import annotations

RCPT_OK = "250 2.1.5 Recipient ok"
SENDER_OK = "250 2.1.0 Sender ok"
NO_SUCH_USER = "550 5.1.1 No such recipient here: this service accepts mail for its conduct address only"
TOO_BIG = "552 5.3.4 Message too big for this service"
HEADER_TOO_BIG = "552 5.3.4 Message header section too big for this service"
TOO_MANY_HOPS = "554 5.4.6 Too many hops: the message has passed through too many servers (a mail loop?)"
LINE_TOO_LONG = "500 5.5.2 Line too long"
TRY_AGAIN = "451 4.3.0 Temporary failure storing the message; please try again later"

# Limits an operator sets in [intake] (config/mailflow.example.toml).
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
TIMEOUT = "421 4.4.2 Timeout exceeded; closing the connection"
TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your address; try again later"
SENDER_RATE = "450 4.7.1 Too many messages from this sender in the last hour; please try again later"
NO_SPACE = "452 4.3.1 Insufficient system storage; please try again later"

# The submission listener's answers (mailflow.handoff): the outcome of processing, at SMTP time.
SUBMISSION_ACCEPTED = "250 2.0.0 Accepted: recorded, and relayed where it was addressed"
SUBMISSION_HELD = "550 5.7.1 Held by the policy gate; nothing was sent."
SUBMISSION_UNPROCESSED = "554 5.6.0 The mail could not be processed; it is kept for the operator"
SUBMISSION_NO_CASE = "550 5.7.1 The mail belongs to no case; nothing was sent"


def queued(inbound_id: int) -> str:
    return f"250 2.0.0 Ok: stored as message {inbound_id}"
