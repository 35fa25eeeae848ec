"""Relay: a member's mail to a conversation's address goes out in the committee's name, after the gate.

"All communication should be done via the conduct@ address" and "CC the conduct@ address on all
communication" (Django communications guidelines): the outside parties only ever see the conduct
address (From) and the conversation's own address (Reply-To), so their replies come back into the
same conversation and the reporter's thread and the reported person's thread stay apart.

What leaves is what the member wrote: the plain-text body (markers at the top kept, since the
recipients should see them; quoted history included) and their attachments, never their HTML
alternative. The policy gate judges exactly those bytes, with everything the case protects (its
people, their words and files, and what the committee wrote for itself). A held mail reaches no
outside recipient: it waits in the outbox (``mailflow.outbound.held``) until the member sends a
fixed one or a chair releases it; the member gets the gate's explanation with the chairs in Cc.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import conversations, gate, parties, standing
from mailflow.case import service as cases
from mailflow.config import Settings
from mailflow.model import OutboundKind
from mailflow.model import core as t
from mailflow.outbound import held, outbox
from mailflow.outbound.compose import Draft, OutAttachment, compose
from mailflow.outbound.to_members import to_members
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.message import Address, ParsedMessage
from mailflow.parse.subject import strip_prefixes, with_tag
from mailflow.policy.markers import Markers, apply_markers, parse_markers
from mailflow.policy.outgoing import Decision, Recipient

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
    """The explanation sent back to the member (the chairs in Cc) when the gate held the mail."""
    conversation: cases.ConversationRef


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


def attachments_of(message: ParsedMessage) -> tuple[OutAttachment, ...]:
    """The member's attachments, decoded (what a recipient would open), as the MIME reading found them."""
    if message.tree is None:
        return ()
    found: list[OutAttachment] = []
    total = 0
    for part in message.tree.walk(into_attached=False):
        if part.children or not part.data or not (part.disposition == "attachment" or part.filename):
            continue
        total += len(part.data)
        if total > _MAX_ATTACHMENTS_BYTES:
            break
        found.append(OutAttachment(part.filename or "attachment", part.content_type, part.data, part.charset))
    return tuple(found)


def relay(
    conn: Connection,
    ctx: RelayContext,
    case: cases.CaseRef,
    conversation: cases.ConversationRef,
    member: RosterMember,
    message: ParsedMessage,
    text: str,
    *,
    markers: Markers | None = None,
    previous: tuple[Recipient, ...] | None = None,
    recipients: tuple[Recipient, ...] | None = None,
    now: datetime,
) -> Relayed:
    """``recipients``: given when the member addressed the outside parties themselves (through the
    submission listener); otherwise the conversation's recipients changed by the markers."""
    markers = markers if markers is not None else parse_markers(text)
    current = conversations.recipients_of(conn, conversation.id)
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
        attachments=attachments_of(message),
    )
    raw = compose(content, "gate-preview@invalid", now)
    decision = gate.judge(
        conn,
        case.id,
        raw,
        text,
        recipients,
        previous,
        conduct=ctx.conduct,
        insiders=ctx.insiders,
    )
    if not decision.allowed:
        kept = held.hold(
            conn,
            content,
            decision,
            kind=OutboundKind.RELAY,
            case_id=case.id,
            conversation_id=conversation.id,
            author=member.name,
            recipients=recipients,
            now=now,
        )
        answer = hold_notice(conn, ctx, case, member, message, decision, kept, now=now, where=address)
        return Relayed(decision, None, answer, conversation)
    sent = outbox.draft(
        conn,
        content,
        kind=OutboundKind.RELAY,
        case_id=case.id,
        conversation_id=conversation.id,
        now=now,
    )
    held.supersede(conn, conversation_id=conversation.id, author=member.name, now=now)
    conversations.set_recipients(conn, conversation, recipients, by=member.name, now=now)
    return Relayed(decision, sent, None, conversation)


def hold_notice(
    conn: Connection,
    ctx: RelayContext,
    case: cases.CaseRef,
    member: RosterMember,
    message: ParsedMessage,
    decision: Decision,
    kept: held.HeldMail,
    *,
    now: datetime,
    where: str,
) -> outbox.Drafted:
    """Tell the author why the mail was held and how to fix it; the chairs (who may release it) in Cc."""
    out = standing.excluded(conn, case.id)
    chairs = [m for m in ctx.roster if m.role == "chair" and m.name not in out and m.name != member.name]
    text = (
        f"Your mail to {where} was held by the policy gate and reached no outside recipient.\n\n"
        + decision.explain().rstrip()
        + "\n\nFix it and send it again to the same address.\n\n"
        "If it must go exactly as it is, a chair may release it after looking at it: reply to this notice with\n"
        "'release REASON' on the first line (keep the token line below), or run\n"
        f"  mailflow held release {kept.id} --as CHAIR --reason REASON\n"
        "The release is recorded in the case diary with the chair's name and reason.\n\n"
        f"{held.TOKEN_LINE} {kept.token}\n"
    )
    subject = "Held: " + (strip_prefixes(message.subject) or case.ref)
    return to_members(
        conn, ctx.settings, case, [member], subject, text, now=now, cc=chairs, in_reply_to=message.message_id
    )
