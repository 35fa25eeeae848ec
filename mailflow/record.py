"""Record an inbound message: into the case the thread step chose, or into a new case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.auth.sender import Arrival
from mailflow.case import diary
from mailflow.case import service as cases
from mailflow.case.entries import Received
from mailflow.model import ConversationKind, DiaryKind, InboundSource, InboundState, MessageKind
from mailflow.model import core as t
from mailflow.parse.classify import Classification
from mailflow.parse.message import Address, ParsedMessage
from mailflow.thread.resolve import Thread, Tier

_KIND_ENTRY = {
    MessageKind.AUTO_REPLY: DiaryKind.AUTO_REPLY,
    MessageKind.BOUNCE: DiaryKind.BOUNCE,
    MessageKind.LIST: DiaryKind.LIST,
    MessageKind.BULK: DiaryKind.LIST,
}

# By Message-ID alone (few rows share one); the state is checked here, so that no planner is
# tempted by the index on state, which nearly every row shares.
_SAME_MESSAGE_ID: Select[int, int | None, InboundState] = select(
    t.inbound.c.id, t.inbound.c.case_id, t.inbound.c.state
).where(t.inbound.c.message_id == bindparam("message_id"))
_OUTBOUND_BY_MESSAGE_ID: Select[int, int | None, int | None] = select(
    t.outbound.c.id, t.outbound.c.case_id, t.outbound.c.conversation_id
).where(t.outbound.c.message_id == bindparam("message_id"))
_CASE_REF = select(t.cases.c.id, t.cases.c.ref).where(t.cases.c.id == bindparam("case_id"))


_SMTP = Arrival(InboundSource.SMTP)


@dataclass(frozen=True, slots=True)
class Inbound:
    """What the record step needs of a spooled message."""

    id: int
    rcpt_to: list[str]
    notify: bool
    arrival: Arrival = _SMTP
    sha256: str | None = None
    """Of the bytes as sent: the diary entry that records the message covers them."""
    """How it reached us (the connection, or the submission listener's login)."""

    @property
    def submitted_by(self) -> str | None:
        """The member login of the submission listener that took it, if it came that way."""
        return self.arrival.submitted_by


@dataclass(frozen=True, slots=True)
class Answered:
    """Our mail that a bounce or auto-reply names."""

    id: int
    case_id: int | None
    conversation_id: int | None


@dataclass(frozen=True, slots=True)
class Recorded:
    case: cases.CaseRef | None
    created: bool
    conversation: cases.ConversationRef | None
    answered: Answered | None


def earlier_copy(conn: Connection, inbound_id: int, message_id: str | None) -> tuple[int, int | None] | None:
    """(id, case id) of a message with the same Message-ID that is already recorded (a second delivery)."""
    if not message_id:
        return None
    for id_, case_id, state in conn.execute(_SAME_MESSAGE_ID, {"message_id": message_id}):
        if id_ != inbound_id and state == InboundState.PROCESSED:
            return id_, case_id
    return None


def answered_outbound(conn: Connection, classification: Classification) -> Answered | None:
    """The mail of ours that a bounce or auto-reply answers, when it names one."""
    for mid in classification.original_message_ids:
        row = conn.execute(_OUTBOUND_BY_MESSAGE_ID, {"message_id": mid}).first()
        if row is not None:
            return Answered(*row)
    return None


def opens_case(classification: Classification) -> bool:
    """Every message that belongs to no case opens one, except a delivery report: an automatic
    mail that answers none of ours (a conference's report form sends with ``Auto-Submitted:
    auto-generated``) may be a report, and no report goes unheard. A bounce that names no mail of
    ours is stored and the chairs are told (``unplaced``)."""
    return classification.kind is not MessageKind.BOUNCE


def record(
    conn: Connection,
    inbound: Inbound,
    message: ParsedMessage,
    classification: Classification,
    thread: Thread,
    *,
    new_text: str,
    insiders: frozenset[str],
    now: datetime,
    reporter: Address | None = None,
    automatic: bool = False,
    unverified: bool = False,
) -> Recorded:
    """``reporter``: for a forwarded report, the original sender (else the From of the message);
    ``automatic``: from an automatic sender (a form), so a new case has no reporter until the
    committee confirms one; ``unverified``: it claims a member's or party's address and failed
    authentication."""
    if thread.outbound_id is not None:
        answered: Answered | None = Answered(thread.outbound_id, thread.case_id, thread.conversation_id)
    else:
        answered = answered_outbound(conn, classification) if not classification.may_answer else None
    case_id, conversation_id = thread.case_id, thread.conversation_id
    if case_id is None and answered is not None and answered.case_id is not None:
        case_id, conversation_id = answered.case_id, answered.conversation_id
    conversation: cases.ConversationRef | None = None
    created = case_id is None
    if case_id is None:
        if not opens_case(classification):
            return Recorded(None, False, None, answered)
        opened = cases.open_case(
            conn,
            reporter=reporter or (None if automatic else message.from_addr),
            subject=message.subject,
            opened_at=_opened_at(inbound, message, now),
            related_case_id=thread.related_case_id,
            imported=not inbound.notify,
        )
        case, conversation = opened.case, opened.reporter_conversation
        diary.started(conn, case.id)
    else:
        row = conn.execute(_CASE_REF, {"case_id": case_id}).one()
        case = cases.CaseRef(row[0], row[1])
        conversation = _conversation_for(conn, case.id, conversation_id, message, insiders)
        cases.touch(conn, case.id, now)
    kind = DiaryKind.REPORT if created else _KIND_ENTRY.get(classification.kind, DiaryKind.MESSAGE)
    diary.append(
        conn,
        case.id,
        _received(kind, thread, classification, conversation.id if conversation else None),
        at=now,
        actor=message.from_addr.address if message.from_addr else None,
        from_addr=message.from_addr.address if message.from_addr else None,
        to_addrs=[a.address for a in message.recipients] or list(inbound.rcpt_to),
        subject=message.subject,
        message_id=message.message_id,
        new_text=new_text,
        inbound_id=inbound.id,
        outbound_id=answered.id if answered else None,
        unverified=unverified,
        content_sha256=inbound.sha256,
    )
    cases.remember_message_ids(
        conn, case.id, [message.message_id], outgoing=False, conversation_id=conversation.id if conversation else None
    )
    return Recorded(case, created, conversation, answered)


def _opened_at(inbound: Inbound, message: ParsedMessage, now: datetime) -> datetime:
    # Imported history keeps its own dates; live mail opens its case now.
    return message.date if not inbound.notify and message.date else now


def _conversation_for(
    conn: Connection, case_id: int, conversation_id: int | None, message: ParsedMessage, insiders: frozenset[str]
) -> cases.ConversationRef | None:
    """The conversation a message belongs to: the one threading named, else by who wrote it."""
    convs = cases.conversations_of(conn, case_id)
    if conversation_id is not None:
        return next((c for c, _ in convs if c.id == conversation_id), None)
    sender = message.from_addr.address.lower() if message.from_addr else ""
    if sender in insiders:
        return next((c for c, _ in convs if c.kind is ConversationKind.TEAM), None)
    for conv, recipients in convs:
        if any(r.get("address", "").lower() == sender for r in recipients):
            return conv
    return next((c for c, _ in convs if c.number == cases.REPORTER_CONVERSATION), None)


def _received(kind: DiaryKind, thread: Thread, classification: Classification, conversation_id: int | None) -> Received:
    automatic = classification.kind is not MessageKind.PERSONAL
    return Received(
        entry_kind=kind,
        threaded_by=thread.tier.value,
        conversation=conversation_id,
        classified=classification.kind.value if automatic else None,
        reasons=tuple(classification.reasons) if automatic else (),
        possibly_related_case=thread.related_case_id if thread.tier is Tier.NEW else None,
        cited_message_id=thread.cited,
        also_addressed=thread.also_addressed,
    )
