"""Fan-out: every message recorded on a case reaches the committee members who may see it.

"All communication should be done via the conduct@ address" and "the committee's discussion of a
report stays within the committee" (the manuals): members read case mail in their own client,
from the conduct address, with Reply-To the case's internal address, so that a plain reply stays
inside the committee. Members who are excluded (a conflict, a recusal, a party to the case) and
the member who wrote the message get nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from mailflow.auth import RosterMember
from mailflow.case import service as cases
from mailflow.case import standing
from mailflow.config import Settings
from mailflow.model import OutboundKind
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.message import Address, ParsedMessage
from mailflow.parse.subject import strip_prefixes, with_tag


@dataclass(frozen=True, slots=True)
class FanoutContext:
    settings: Settings
    conduct: ConductAddress
    roster: Sequence[RosterMember]


def eligible(
    conn: Connection, case_id: int, roster: Sequence[RosterMember], *, author: str | None
) -> list[RosterMember]:
    """The members who receive a case's mail: everyone on the roster except the excluded and the author."""
    out = standing.excluded(conn, case_id)
    return [m for m in roster if m.name not in out and m.name != author]


def fan_out(
    conn: Connection,
    ctx: FanoutContext,
    case: cases.CaseRef,
    came_to: cases.ConversationRef | None,
    message: ParsedMessage,
    *,
    what: str,
    author: str | None,
    body: str | None = None,
    now: datetime,
) -> outbox.Drafted | None:
    """Draft one mail of ``message`` to the eligible members; None when nobody may receive it."""
    members = eligible(conn, case.id, ctx.roster, author=author)
    if not members:
        return None
    team = cases.conversation(conn, case.id, cases.TEAM)
    assert team is not None
    team_address = cases.address_of(ctx.conduct, case.ref, team)
    reporter_conv = cases.conversation(conn, case.id, cases.REPORTER_CONVERSATION)
    sender = message.from_addr
    who = f"{sender.name} <{sender.address}>" if sender and sender.name else (sender.address if sender else "unknown")
    came = cases.address_of(ctx.conduct, case.ref, came_to) if came_to else str(ctx.conduct)
    lines = [
        f"Case {case.ref} - {what}",
        f"From: {who}",
        f"To:   {came}",
    ]
    if message.attachments:
        names = ", ".join(a.filename or a.content_type for a in message.attachments)
        lines.append(f"Attachments (kept in the case record): {names}")
    text = body if body is not None else message.text
    footer = [
        "-- ",
        f"Reply to this mail to write to the committee only (recorded, never sent outside): {team_address}",
    ]
    if reporter_conv is not None:
        footer.append(
            f"Write to the reporter through: {cases.address_of(ctx.conduct, case.ref, reporter_conv)}"
            " (checked by the policy gate before it leaves)"
        )
    if came_to is not None and came_to.number not in (cases.TEAM, cases.REPORTER_CONVERSATION):
        footer.append(f"This conversation's address: {came}")
    service = ctx.settings.service
    references = (*message.references, message.message_id) if message.message_id else message.references
    content = Draft(
        from_name=service.committee_name,
        from_addr=str(ctx.conduct),
        to=tuple(Address(m.name, m.addresses[0]) for m in members),
        subject=with_tag(strip_prefixes(message.subject) or "(no subject)", service.subject_tag, case.ref),
        text="\n".join(lines) + "\n\n" + text.strip("\n") + "\n\n" + "\n".join(footer) + "\n",
        reply_to=team_address,
        in_reply_to=message.message_id,
        references=references,
        auto_submitted="auto-generated",
    )
    return outbox.draft(
        conn,
        content,
        kind=OutboundKind.FANOUT,
        case_id=case.id,
        conversation_id=team.id,
        now=now,
    )
