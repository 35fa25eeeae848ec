"""The tables: the database is the source of truth, the queue only carries ids."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, UniqueConstraint
from sqlalchemy import Enum as SAEnum
from sqlmodel import Field, SQLModel

from mailflow.clock import utcnow
from mailflow.crypt.sealed import BlindIndex, SealedBytes, SealedJSON, SealedText
from mailflow.model.types import (
    AlertKind,
    CaseState,
    ConversationKind,
    DiaryKind,
    HeldState,
    InboundSource,
    InboundState,
    MessageKind,
    OutboundKind,
    OutboundState,
    PartyRole,
    UTCDateTime,
)


def _now_column(**kwargs: Any) -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, **kwargs)


def _sealed(table: str, column: str, default: Any = ..., **kwargs: Any) -> Any:
    """Text encrypted at rest when a key is configured (mailflow.crypt): personal data and words."""
    if default is ...:
        return Field(sa_type=SealedText(table, column), **kwargs)
    return Field(default=default, sa_type=SealedText(table, column), **kwargs)


def _sealed_json(table: str, column: str, factory: Any = list) -> Any:
    """A JSON list or object encrypted at rest when a key is configured."""
    return Field(default_factory=factory, sa_column=Column(SealedJSON(table, column), nullable=False))


def _enum(enum: type[StrEnum], default: Any = ..., **kwargs: Any) -> Any:
    """Store an enumeration as its value in a plain VARCHAR: new values need no migration."""
    column_type = SAEnum(enum, native_enum=False, length=32, values_callable=lambda e: [m.value for m in e])
    if default is ...:
        return Field(sa_type=column_type, **kwargs)
    return Field(default=default, sa_type=column_type, **kwargs)


class Blob(SQLModel, table=True):
    """Message bytes exactly as received or as sent: the evidence."""

    id: int | None = Field(default=None, primary_key=True)
    data: bytes = Field(sa_column=Column(SealedBytes("blob", "data"), nullable=False))


class InboundMessage(SQLModel, table=True):
    __tablename__ = "inbound_message"

    id: int | None = Field(default=None, primary_key=True)
    received_at: datetime = _now_column(index=True)
    source: InboundSource = _enum(InboundSource)
    mail_from: str | None = _sealed("inbound_message", "mail_from", None)
    rcpt_to: list[str] = _sealed_json("inbound_message", "rcpt_to")
    sha256: str = Field(unique=True, max_length=64)
    size: int
    blob_id: int = Field(foreign_key="blob.id")
    origin: dict[str, Any] = _sealed_json("inbound_message", "origin", dict)
    state: InboundState = _enum(InboundState, InboundState.RECEIVED, index=True)
    reason: str | None = _sealed("inbound_message", "reason", None)
    kind: MessageKind | None = _enum(MessageKind, None)
    message_id: str | None = Field(default=None, index=True, max_length=998)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    duplicate_of: int | None = None
    processed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    notify: bool = True
    """False for imported history: record it, but acknowledge and fan out nothing."""


class Case(SQLModel, table=True):
    __tablename__ = "cases"

    id: int | None = Field(default=None, primary_key=True)
    ref: str = Field(unique=True, max_length=32)
    year: int
    number: int
    state: CaseState = _enum(CaseState, CaseState.NEW)
    created_at: datetime = _now_column()
    updated_at: datetime = _now_column()
    subject: str = _sealed("cases", "subject", "")
    related_case_id: int | None = None
    """Set when a stranger's mail carried another case's subject tag: possibly related, never merged."""
    acknowledged_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    impact: int | None = None
    """1-5, set by command; risk = impact x likelihood (the Master Incident Log's scale)."""
    likelihood: int | None = None
    imported: bool = False
    """Opened from imported history: no deadline applies to what happened before the import."""
    urgent_since: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Marked urgent (``/urgent``): every eligible member is alerted and the deadlines are shorter."""
    right_of_reply_waived_seq: int | None = None
    """The diary entry of a chair's recorded reason not to offer the reported person a reply."""
    resolution: str | None = None
    """The resolution adopted (a response type of the manuals), once the committee decided."""
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    enacted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    mediation_started_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """When mediation began: every reporter and reported person had agreed to it and to the mediator."""
    mediation_report_seq: int | None = None
    """The diary entry holding the mediator's report; the committee decides once every party vetted it."""

    __table_args__ = (
        UniqueConstraint("year", "number"),
        Index("ix_cases_state_imported", "state", "imported"),  # the deadline check's open cases (0010)
    )


class Party(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    role: PartyRole = _enum(PartyRole)
    name: str | None = _sealed("party", "name", None)
    address: str | None = _sealed("party", "address", None, index=True)
    aliases: list[str] = _sealed_json("party", "aliases")
    added_at: datetime = _now_column()
    permission_seq: int | None = None
    """The diary entry (seq) holding this person's written permission to disclose their identity
    and words; None: no permission, the policy gate protects them."""
    mediation_agreed_seq: int | None = None
    """The diary entry of this party's agreement to mediation and to the mediator."""
    apology_consent_seq: int | None = None
    """The diary entry of the reporter's agreement that an apology be asked for."""
    no_contact_seq: int | None = None
    """The diary entry of this party's wish for no further contact: mail to them is refused."""
    report_vetted_seq: int | None = None
    """The diary entry of this party's approval of the mediator's report (Jupyter: "a report
    (vetted by all parties to the process)")."""


class Conversation(SQLModel, table=True):
    """One address of a case: the team's internal thread, or one outside correspondence."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    kind: ConversationKind = _enum(ConversationKind)
    number: int
    token: str = Field(unique=True, max_length=32)
    label: str = _sealed("conversation", "label", "")
    recipients: list[dict[str, str]] = _sealed_json("conversation", "recipients")

    __table_args__ = (UniqueConstraint("case_id", "number"),)


class CaseMessageId(SQLModel, table=True):
    """Every Message-ID a case has seen or sent: the References tier of threading."""

    __tablename__ = "case_message_id"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    message_id: str = Field(max_length=998)
    outgoing: bool = False
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")

    __table_args__ = (
        UniqueConstraint("message_id", "case_id"),  # its index serves lookups by message_id too
    )


class DiaryEntry(SQLModel, table=True):
    """The case diary: append-only, each entry chained to the one before by its hash."""

    __tablename__ = "diary_entry"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    seq: int
    at: datetime = _now_column()
    kind: DiaryKind = _enum(DiaryKind)
    actor: str | None = _sealed("diary_entry", "actor", None)
    """A member's name, "mailflow", or the address of the sender of a message."""
    from_addr: str | None = _sealed("diary_entry", "from_addr", None)
    to_addrs: list[str] = _sealed_json("diary_entry", "to_addrs")
    subject: str | None = _sealed("diary_entry", "subject", None)
    message_id: str | None = None
    new_text: str | None = _sealed("diary_entry", "new_text", None)
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id")
    outbound_id: int | None = Field(default=None, foreign_key="outbound_message.id")
    detail: dict[str, Any] = _sealed_json("diary_entry", "detail", dict)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    unverified: bool = False
    """Mail in a member's or a party's name that failed authentication: never that person's own word
    (no command obeyed, no permission taken from it)."""
    content_sha256: str | None = Field(default=None, max_length=64)
    """SHA-256 of the message the entry records, as received or sent: the chain covers the bytes."""

    __table_args__ = (UniqueConstraint("case_id", "seq"),)


class OutboundMessage(SQLModel, table=True):
    """The outbox: every mail we send, with its fixed Message-ID and bytes, and its delivery state."""

    __tablename__ = "outbound_message"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id", index=True)
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")
    kind: OutboundKind = _enum(OutboundKind)
    state: OutboundState = _enum(OutboundState, OutboundState.QUEUED, index=True)
    created_at: datetime = _now_column()
    attempts: int = 0
    next_attempt_at: datetime = _now_column()
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    claimed_by: str | None = Field(default=None, max_length=300)
    """host:pid of the process sending it, so a restart can tell its own dead claims from live ones."""
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_error: str | None = _sealed("outbound_message", "last_error", None)
    message_id: str = Field(unique=True, max_length=998)
    mail_from: str
    """Our own return path (``conduct+bounce.TOKEN@``): not sealed."""
    recipients: list[str] = Field(sa_column=Column(SealedJSON("outbound_message", "recipients"), nullable=False))
    primary_recipient: str | None = Field(
        default=None, index=True, sa_type=BlindIndex("outbound_message", "primary_recipient", "recipients")
    )
    """The first recipient, lowercased, for the acknowledgements' rate limit: with encryption on, a
    keyed hash of it (a blind index), never the address."""
    subject: str = _sealed("outbound_message", "subject", "")
    blob_id: int = Field(foreign_key="blob.id")
    bounce_token: str | None = Field(default=None, unique=True, max_length=32)
    """The return path is ``conduct+bounce.TOKEN@``: only a bounce sent there counts for this mail (VERP)."""


class HeldMail(SQLModel, table=True):
    """Outgoing mail the policy gate held: its bytes wait in the outbox (state held) until a chair
    releases it, with the reason, or it is superseded."""

    __tablename__ = "held_mail"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    outbound_id: int = Field(foreign_key="outbound_message.id")
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")
    author: str = Field(max_length=200)
    """The member who wrote it (or "mailflow" for a notice)."""
    token: str = Field(unique=True, max_length=32)
    """Carried by the hold notice to the chairs: a chair's "release REASON" counts only with it, once."""
    rules: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    summaries: list[str] = _sealed_json("held_mail", "summaries")
    recipients: list[dict[str, str]] = _sealed_json("held_mail", "recipients")
    """Who it would go to (name, address): the conversation's recipients once it is released."""
    state: HeldState = _enum(HeldState, HeldState.HELD, index=True)
    created_at: datetime = _now_column()
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=200)
    reason: str | None = _sealed("held_mail", "reason", None)


class Alert(SQLModel, table=True):
    """Something the chairs must hear of: sent in a digest (at most one mail per kind a day)."""

    id: int | None = Field(default=None, primary_key=True)
    kind: AlertKind = _enum(AlertKind, index=True)
    case_id: int | None = Field(default=None, foreign_key="cases.id")
    inbound_id: int | None = Field(default=None, foreign_key="inbound_message.id")
    outbound_id: int | None = Field(default=None, foreign_key="outbound_message.id")
    summary: str = _sealed("alert", "summary", "")
    """What happened, for the chairs: no body, no reporter's address."""
    created_at: datetime = _now_column()
    notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class ImapWatermark(SQLModel, table=True):
    """The highest UID of an IMAP folder whose bytes are in the spool, per UIDVALIDITY.

    UIDs and UIDVALIDITY are unsigned 32-bit numbers: BIGINT, since PostgreSQL's INTEGER is signed.
    """

    __tablename__ = "imap_watermark"

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=300)
    """host:port/username of the mailbox."""
    folder: str = Field(max_length=300)
    uidvalidity: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_uid: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = _now_column()

    __table_args__ = (UniqueConstraint("account", "folder", "uidvalidity"),)


class CaseMember(SQLModel, table=True):
    """A committee member's standing on one case: assigned (lead, secondary) or kept out of it
    (a declared conflict, a recusal, or being a party to the case)."""

    __tablename__ = "case_member"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    member: str = Field(max_length=200)
    """The roster name."""
    assignment: str | None = Field(default=None, max_length=16)
    """"lead" or "secondary"."""
    excluded: bool = False
    reason: str | None = None
    """Why excluded: "conflict", "recused", "party (suspected)", "party"."""
    since: datetime = _now_column()
    by: str | None = Field(default=None, max_length=200)

    __table_args__ = (UniqueConstraint("case_id", "member"),)


class NoticeDraft(SQLModel, table=True):
    """A templated notice on its way out: drafted, approved by a chair, then sent (or held by the gate)."""

    __tablename__ = "notice_draft"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    notice: str = Field(max_length=100)
    """The template, e.g. "reporter/status-update"."""
    owner: str = Field(max_length=200)
    """The member who drafted it, or "mailflow" for a deadline's draft."""
    state: str = Field(default="awaiting_approval", max_length=32, index=True)
    """draft, awaiting_approval, approved, rejected, sent, held."""
    conversation_id: int | None = Field(default=None, foreign_key="conversation.id")
    recipients: list[dict[str, str]] = _sealed_json("notice_draft", "recipients")
    subject: str = _sealed("notice_draft", "subject", "")
    text: str = _sealed("notice_draft", "text", "")
    token: str = Field(unique=True, max_length=32)
    """Carried by the approval request; a chair's reply counts only with it, and only once."""
    created_at: datetime = _now_column()
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=200)
    reason: str | None = _sealed("notice_draft", "reason", None)
    edited: bool = False
    outbound_id: int | None = Field(default=None, foreign_key="outbound_message.id")
    detail: dict[str, Any] = _sealed_json("notice_draft", "detail", dict)
    group_id: int | None = Field(default=None, index=True)
    """A notice goes to each addressee separately (own conversation, own Message-ID): the drafts of
    one notice share the id of the first, and one approval decides them all."""


class Deadline(SQLModel, table=True):
    """A date the case must keep: a deadline of the manuals or one a sent notice promised.

    Due when ``due_at`` passes and it is neither done nor fired; the check reads only what is due
    (the index on fired_at, done_at, due_at), however many cases are stored."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id")
    name: str = Field(max_length=100)
    """What it is: "acknowledgement", "personal-reply", "status-update-2", "unilateral-12",
    "reply_by-7" (a date notice 7 promised), ..."""
    due_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = _now_column()
    created_by: str = Field(default="mailflow", max_length=200)
    about: str = _sealed("deadline", "about", "")
    """What is expected by then, for the reminder (no reporter's address, no body)."""
    done_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    """Met before it was due (the acknowledgement went out, the reply came)."""
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)

    __table_args__ = (
        UniqueConstraint("case_id", "name"),
        Index("ix_deadline_due", "fired_at", "done_at", "due_at"),
    )


class Proposal(SQLModel, table=True):
    """A resolution a member proposed (``/propose TYPE TEXT``), decided by the committee's vote."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    resolution: str = Field(max_length=64)
    """A response type of the manuals: "no-action", "warning", "reprimand", "ban", ..."""
    text: str = _sealed("proposal", "text", "")
    proposed_by: str = Field(max_length=200)
    proposed_at: datetime = _now_column()
    state: str = Field(default="open", max_length=32)
    """open, adopted, rejected, escalated, withdrawn."""
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    eligible: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    """The members who could vote when it was proposed (not excluded from the case)."""


class Vote(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposal.id", index=True)
    member: str = Field(max_length=200)
    choice: str = Field(max_length=16)
    """yes, no, abstain."""
    why: str = _sealed("vote", "why", "")
    at: datetime = _now_column()

    __table_args__ = (UniqueConstraint("proposal_id", "member"),)


class KeyringCheck(SQLModel, table=True):
    """Encryption at rest (mailflow.crypt): one row per key that may have sealed data in this
    database, holding a known text sealed with it. The service refuses to start unless every key
    named here is configured and opens its row (mailflow.crypt.check)."""

    __tablename__ = "keyring_check"

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(unique=True, max_length=16)
    sealed: str
    created_at: datetime = _now_column()
