"""Column types and the enumerations stored in them."""

from __future__ import annotations

from enum import StrEnum

from mailflow.columns import UTCDateTime as UTCDateTime  # the models' timestamps


class InboundSource(StrEnum):
    SMTP = "smtp"
    LMTP = "lmtp"
    PIPE = "pipe"
    IMAP = "imap"
    IMPORT = "import"
    SUBMISSION = "submission"  # a member's mail through the submission listener


class InboundState(StrEnum):
    RECEIVED = "received"  # bytes committed, not yet processed
    PROCESSED = "processed"  # recorded in a case (or as a system message)
    DUPLICATE = "duplicate"  # same Message-ID as a message already recorded
    QUARANTINED = "quarantined"  # could not be processed; kept raw with the reason


class MessageKind(StrEnum):
    """What kind of sender wrote it (RFC 3834 and friends); decides whether we may answer."""

    PERSONAL = "personal"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    LIST = "list"
    BULK = "bulk"


class CaseState(StrEnum):
    NEW = "new"
    OPEN = "open"
    INVESTIGATING = "investigating"
    RESOLUTION_PROPOSED = "resolution_proposed"
    RESOLVED = "resolved"
    CLOSED = "closed"


class PartyRole(StrEnum):
    REPORTER = "reporter"
    HARMED = "harmed"
    REPORTED = "reported"
    WITNESS = "witness"
    MEDIATOR = "mediator"


class ConversationKind(StrEnum):
    TEAM = "team"  # the committee's internal thread on the case
    OUTSIDE = "outside"  # correspondence with outside parties, relayed after the policy gate


class DiaryKind(StrEnum):
    REPORT = "report"
    MESSAGE = "message"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"
    LIST = "list"
    SENT = "sent"
    NOTE = "note"
    COMMAND = "command"
    STATE = "state"
    HELD = "held"
    RELEASED = "released"  # a chair let a held mail go, with the reason
    RECIPIENTS = "recipients"  # a conversation's outside recipients changed (to_addrs: who is on it now)
    DUPLICATE = "duplicate"
    DELIVERY_FAILED = "delivery_failed"


class OutboundState(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    RETRY = "retry"
    SENT = "sent"
    FAILED = "failed"
    HELD = "held"
    BOUNCED = "bounced"  # handed over, then a bounce came back naming it


class HeldState(StrEnum):
    HELD = "held"  # waiting: a chair may release it
    RELEASED = "released"  # a chair let it go; it was queued
    SUPERSEDED = "superseded"  # never sent (the author sent a fixed mail, or the case closed)


class AlertKind(StrEnum):
    """What the chairs must hear of that has no case mail of its own to tell them."""

    UNPLACED = "unplaced"  # a stored message that belongs to no case
    QUARANTINED = "quarantined"  # a message that could not be processed
    HELD = "held"  # outgoing mail the policy gate held
    DELIVERY_FAILED = "delivery_failed"  # a mail that could not be delivered
    BOUNCED = "bounced"  # a mail that came back
    OVERDUE = "overdue"  # a deadline of the manuals (or a promised date) passed
    TOO_COMPLEX = "too_complex"  # a message over its time budget, recorded without its content


class OutboundKind(StrEnum):
    ACKNOWLEDGEMENT = "acknowledgement"
    FANOUT = "fanout"
    RELAY = "relay"
    NOTICE = "notice"
    APPROVAL_REQUEST = "approval_request"
    SYSTEM = "system"
