"""Relay: a member's mail to a conversation's address goes out in the committee's name, after the gate.

"All communication should be done via the conduct@ address" and "CC the conduct@ address on all
communication" (Django communications guidelines): the outside parties only ever see the conduct
address (From) and the conversation's own address (Reply-To), so their replies come back into the
same conversation and the reporter's thread and the reported person's thread stay apart.

What leaves is what the member wrote: the plain-text body (markers at the top kept, since the
recipients should see them; quoted history included) and their attachments, never their HTML
alternative. The policy gate judges exactly those bytes, and one more check belongs to relaying
itself: the case's internal address must never leave (a quoted fan-out mail carries it), or an
outsider could write into the committee's own thread. A held mail reaches no outside recipient,
is recorded in the diary, and its author gets the gate's explanation.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select

from mailflow.auth import RosterMember
from mailflow.case import diary
from mailflow.case import service as cases
from mailflow.committee import parties, protection
from mailflow.config import Settings
from mailflow.model import ConversationKind, DiaryKind, OutboundKind
from mailflow.model import core as t
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft, OutAttachment, compose
from mailflow.parse.addresses import ConductAddress, new_token
from mailflow.parse.message import Address, ParsedMessage
from mailflow.parse.subject import strip_prefixes, with_tag
from mailflow.policy.gate import Decision, Outgoing, Recipient, Violation, evaluate
from mailflow.policy.markers import Markers, apply_markers, parse_markers

_c = t.conversation.c
_RECIPIENTS = select(_c.recipients, _c.label).where(_c.id == bindparam("conversation_id"))
SET_RECIPIENTS = t.conversation.update().where(_c.id == bindparam("conversation_id"))
_NEXT_NUMBER = select(func.max(_c.number)).where(_c.case_id == bindparam("case_id"))
_INSERT_CONVERSATION = t.conversation.insert().returning(_c.id)
_m = t.case_message_id.c
_LAST_SEEN = (
    select(_m.message_id)
    .where(_m.conversation_id == bindparam("conversation_id"), _m.outgoing.is_(False))
    .order_by(_m.id.desc())
    .limit(1)
)
_MAX_ATTACHMENTS_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class RelayContext:
    settings: Settings
    conduct: ConductAddress
    roster: Sequence[RosterMember]

    @property
    def insiders(self) -> frozenset[str]:
        members = {a.lower() for m in self.roster for a in m.addresses}
        return frozenset({*members, str(self.conduct).lower()})


@dataclass(frozen=True, slots=True)
class Relayed:
    decision: Decision
    sent: outbox.Drafted | None
    answer: outbox.Drafted | None
    """The explanation sent back to the member when the gate held the mail."""
    conversation: cases.ConversationRef
    head: diary.Head


def recipients_of(conn: Connection, conversation_id: int) -> tuple[Recipient, ...]:
    row = conn.execute(_RECIPIENTS, {"conversation_id": conversation_id}).one()
    return tuple(Recipient(r["address"].lower(), r.get("name") or "") for r in row[0] if r.get("address"))


def start_conversation(
    conn: Connection, case_id: int, recipients: Sequence[Recipient], *, label: str
) -> cases.ConversationRef:
    """A new outside conversation (with the reported person, a witness, a mediator), its own address."""
    number = int(conn.execute(_NEXT_NUMBER, {"case_id": case_id}).scalar() or 0) + 1
    token = new_token()
    conversation_id: int = conn.execute(
        _INSERT_CONVERSATION,
        {
            "case_id": case_id,
            "kind": ConversationKind.OUTSIDE,
            "number": number,
            "token": token,
            "label": label[:100],
            "recipients": [],
        },
    ).scalar_one()
    return cases.ConversationRef(conversation_id, case_id, number, ConversationKind.OUTSIDE, token)


def known_people(conn: Connection, case_id: int) -> dict[str, Recipient]:
    """The case's parties by lowercased name, address and alias: how "[+ John]" finds John."""
    known: dict[str, Recipient] = {}
    for party in parties.of_case(conn, case_id):
        if not party.address:
            continue
        recipient = Recipient(party.address.lower(), party.name or "")
        for key in (party.address, party.name, *party.aliases):
            if key:
                known.setdefault(" ".join(key.split()).casefold(), recipient)
    return known


def attachments_of(raw: bytes) -> tuple[OutAttachment, ...]:
    """The member's attachments, decoded (what a recipient would open)."""
    found: list[OutAttachment] = []
    total = 0
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.iter_attachments() if hasattr(message, "iter_attachments") else ():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        total += len(payload)
        if total > _MAX_ATTACHMENTS_BYTES:
            break
        found.append(OutAttachment(part.get_filename() or "attachment", part.get_content_type(), payload))
    return tuple(found)


def relay(
    conn: Connection,
    ctx: RelayContext,
    case: cases.CaseRef,
    conversation: cases.ConversationRef,
    member: RosterMember,
    message: ParsedMessage,
    raw: bytes,
    text: str,
    *,
    markers: Markers | None = None,
    previous: tuple[Recipient, ...] | None = None,
    recipients: tuple[Recipient, ...] | None = None,
    now: datetime,
    head: diary.Head | None,
) -> Relayed:
    """``recipients``: given when the member addressed the outside parties themselves (through the
    submission listener); otherwise the conversation's recipients changed by the markers."""
    markers = markers if markers is not None else parse_markers(text)
    current = recipients_of(conn, conversation.id)
    if previous is None and current:
        previous = current
    if recipients is None:
        recipients = apply_markers(current, markers, known_people(conn, case.id))
    address = cases.address_of(ctx.conduct, case.ref, conversation)
    service = ctx.settings.service
    last_seen = conn.execute(_LAST_SEEN, {"conversation_id": conversation.id}).scalar()
    content = Draft(
        from_name=service.committee_name,
        from_addr=str(ctx.conduct),
        to=tuple(Address(r.name, r.address) for r in recipients),
        subject=with_tag(strip_prefixes(message.subject) or case.ref, service.subject_tag, case.ref),
        text=text,
        reply_to=address,
        in_reply_to=last_seen,
        references=(last_seen,) if last_seen else (),
        attachments=attachments_of(raw),
    )
    decision = check(conn, ctx, case, compose(content, "gate-preview@invalid", now), text, recipients, previous)
    if not recipients:
        decision = Decision(False, (*decision.violations, _no_recipients()))
    if not decision.allowed:
        answer, head = hold(conn, ctx, case, member, message, decision, now=now, head=head, where=address)
        return Relayed(decision, None, answer, conversation, head)
    sent = outbox.draft(
        conn,
        content,
        kind=OutboundKind.RELAY,
        mail_from=address,
        case_id=case.id,
        conversation_id=conversation.id,
        now=now,
        diary_head=head,
    )
    conn.execute(
        SET_RECIPIENTS,
        {
            "conversation_id": conversation.id,
            "recipients": [{"name": r.name, "address": r.address} for r in recipients],
        },
    )
    return Relayed(decision, sent, None, conversation, sent.diary_head or diary.head(conn, case.id))


def check(
    conn: Connection,
    ctx: RelayContext,
    case: cases.CaseRef,
    raw: bytes,
    text: str,
    recipients: tuple[Recipient, ...],
    previous: tuple[Recipient, ...] | None,
) -> Decision:
    """The policy gate on ``raw`` as it would reach ``recipients``, with what the case protects,
    plus relaying's own rule: the case's internal address never leaves."""
    guard = protection.of_case(conn, case.id)
    outside = [r for r in recipients if r.address not in guard.protected_addresses]
    decision = evaluate(
        Outgoing(
            raw=raw,
            top_text=text,
            recipients=recipients,
            previous=previous,
            protected=guard.protected,
            withheld=guard.withheld if outside else (),
            insiders=ctx.insiders,
        )
    )
    team = cases.conversation(conn, case.id, cases.TEAM)
    assert team is not None
    if team.token.encode() in raw.lower():
        team_address = cases.address_of(ctx.conduct, case.ref, team)
        decision = Decision(False, (*decision.violations, _internal_address(team_address)))
    return decision


def _no_recipients() -> Violation:
    return Violation(
        "recipients",
        "this conversation has no outside recipients",
        "Add one with a line like [+ Name <address>] at the very top of the mail.",
    )


def _internal_address(team_address: str) -> Violation:
    return Violation(
        "internal-address",
        "the mail carries the case's internal address",
        f"It contains {team_address}, the committee's internal address for this case (usually inside a quoted"
        " copy of a committee mail). Outsiders must never learn it: delete the quoted committee mail and send again.",
    )


def hold(
    conn: Connection,
    ctx: RelayContext,
    case: cases.CaseRef,
    member: RosterMember,
    message: ParsedMessage,
    decision: Decision,
    *,
    now: datetime,
    head: diary.Head | None,
    where: str,
) -> tuple[outbox.Drafted, diary.Head]:
    """Record the held mail and tell its author why, and how to fix it."""
    _, head = diary.append(
        conn,
        case.id,
        DiaryKind.HELD,
        after=head,
        at=now,
        actor=member.name,
        subject=message.subject,
        message_id=message.message_id,
        detail={
            "to": where,
            "rules": sorted({v.rule for v in decision.violations}),
            "summaries": [v.summary for v in decision.violations][:20],
        },
    )
    service = ctx.settings.service
    team = cases.conversation(conn, case.id, cases.TEAM)
    assert team is not None
    text = (
        f"Your mail to {where} was held by the policy gate and reached no outside recipient.\n\n"
        + decision.explain().rstrip()
        + "\n\nFix it and send it again to the same address.\n"
    )
    answer = outbox.draft(
        conn,
        Draft(
            from_name=service.committee_name,
            from_addr=str(ctx.conduct),
            to=(Address(member.name, member.addresses[0]),),
            subject=with_tag("Held: " + (strip_prefixes(message.subject) or case.ref), service.subject_tag, case.ref),
            text=text,
            reply_to=cases.address_of(ctx.conduct, case.ref, team),
            in_reply_to=message.message_id,
            references=(message.message_id,) if message.message_id else (),
            auto_submitted="auto-replied",
        ),
        kind=OutboundKind.SYSTEM,
        mail_from=str(ctx.conduct),
        case_id=case.id,
        conversation_id=team.id,
        now=now,
        diary_head=head,
    )
    return answer, answer.diary_head or diary.head(conn, case.id)
