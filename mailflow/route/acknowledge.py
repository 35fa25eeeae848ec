"""The acknowledgement: a new case's reporter hears from us at once (the manuals promise 24 hours).

Never to auto-replies, bounces, list or bulk mail (RFC 3834), never twice for a case, never to
ourselves, and at most ``rate_limit_count`` per sender address per window, so that two
auto-responders cannot keep each other busy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select

from mailflow.case import diary
from mailflow.case import service as cases
from mailflow.case.entries import AckWithheld
from mailflow.config import Settings
from mailflow.model import OutboundKind
from mailflow.model import core as t
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft
from mailflow.outbound.render import Renderer
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.classify import Classification
from mailflow.parse.message import Address, ParsedMessage
from mailflow.parse.subject import with_tag

_ALREADY = select(t.outbound.c.id).where(
    t.outbound.c.case_id == bindparam("case_id"), t.outbound.c.kind == OutboundKind.ACKNOWLEDGEMENT
)
_ACKNOWLEDGED = t.cases.update().where(t.cases.c.id == bindparam("case_id")).values(acknowledged_at=bindparam("now"))


@dataclass(frozen=True, slots=True)
class AckContext:
    settings: Settings
    renderer: Renderer
    conduct: ConductAddress


def withheld_reason(
    conn: Connection,
    ctx: AckContext,
    case: cases.CaseRef,
    message: ParsedMessage,
    classification: Classification,
    *,
    envelope_from: str | None,
    notify: bool,
    now: datetime,
    new_case: bool = False,
) -> str | None:
    """Why no acknowledgement may go out, or None when it may (``new_case``: opened by this very
    message, in this transaction, so it cannot have been acknowledged yet)."""
    settings = ctx.settings.acknowledgement
    reporter = message.from_addr
    if not notify:
        return "imported history"
    if not settings.enabled:
        return "acknowledgements are switched off"
    if not classification.may_answer:
        return f"{classification.kind.value} mail is never answered (RFC 3834)"
    if envelope_from == "":
        return "null envelope sender"
    if reporter is None:
        return "no sender address"
    if ctx.conduct.accepts(reporter.address):
        return "mail from our own address"
    if not new_case and conn.execute(_ALREADY, {"case_id": case.id}).first() is not None:
        return "this case was already acknowledged"
    since = now - timedelta(minutes=settings.rate_limit_window_minutes)
    if outbox.sent_recently(conn, OutboundKind.ACKNOWLEDGEMENT, reporter.address, since) >= settings.rate_limit_count:
        return "rate limit for this sender reached"
    return None


def acknowledge(
    conn: Connection,
    ctx: AckContext,
    case: cases.CaseRef,
    conversation: cases.ConversationRef,
    message: ParsedMessage,
    *,
    now: datetime,
) -> outbox.Drafted:
    assert message.from_addr is not None
    reply_address = cases.address_of(ctx.conduct, case.ref, conversation)
    service = ctx.settings.service
    rendered = ctx.renderer.render(
        "reporter/acknowledgement",
        {
            "committee_name": service.committee_name,
            "conduct_address": str(ctx.conduct),
            "ref": case.ref,
            "reply_address": reply_address,
            "subject_tag": f"[{service.subject_tag} #{case.ref}]",
            "reporter_name": message.from_addr.name,
            "original_subject": message.subject,
            "acknowledgement_hours": f"{ctx.settings.notices.acknowledgement_hours:g}",
            "resolution_days": f"{ctx.settings.notices.status_update_days:g}",
        },
    )
    references = (*message.references, message.message_id) if message.message_id else message.references
    content = Draft(
        from_name=service.committee_name,
        from_addr=str(ctx.conduct),
        to=(Address(message.from_addr.name, message.from_addr.address),),
        subject=with_tag(rendered.subject, service.subject_tag, case.ref),
        text=rendered.text,
        html=rendered.html,
        reply_to=reply_address,
        in_reply_to=message.message_id,
        references=references,
        auto_submitted="auto-replied",
    )
    drafted = outbox.draft(
        conn,
        content,
        kind=OutboundKind.ACKNOWLEDGEMENT,
        case_id=case.id,
        conversation_id=conversation.id,
        now=now,
    )
    conn.execute(_ACKNOWLEDGED, {"case_id": case.id, "now": now})
    return drafted


def note_withheld(conn: Connection, case_id: int, reason: str, now: datetime) -> None:
    diary.append(conn, case_id, AckWithheld(reason), at=now, actor="mailflow")
