"""Route a recorded message: who hears of it, what leaves, what a member asked for.

* Mail from outside (a reporter, a reported person, a witness) is fanned out to the members who may
  see the case.
* Mail from an authenticated member to the case's internal address is internal: its commands are
  obeyed, it is fanned out to the other members, and nothing of it leaves the committee - unless it
  starts a new outside conversation with ``[+ Name <address>]`` lines, which then goes through the
  policy gate like any relay.
* Mail from an authenticated member to an outside conversation's address is relayed after the gate.
* Mail whose From is a member's address but which fails authentication is recorded as unverified,
  flagged to the chair(s), and obeys nothing; its sender gets nothing back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from mailflow.auth import RosterMember, SenderCheck
from mailflow.case import diary
from mailflow.case import service as cases
from mailflow.committee import commands, standing
from mailflow.config import Settings
from mailflow.model import ConversationKind, DiaryKind, OutboundKind
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.message import Address, ParsedMessage
from mailflow.parse.subject import strip_prefixes, with_tag
from mailflow.policy.markers import parse_markers
from mailflow.route import fanout, relay


@dataclass(frozen=True, slots=True)
class CommitteeContext:
    settings: Settings
    conduct: ConductAddress
    roster: Sequence[RosterMember]

    @property
    def fanout(self) -> fanout.FanoutContext:
        return fanout.FanoutContext(self.settings, self.conduct, self.roster)

    @property
    def relay(self) -> relay.RelayContext:
        return relay.RelayContext(self.settings, self.conduct, self.roster)


@dataclass(frozen=True, slots=True)
class Message:
    """A recorded message, as routing sees it."""

    case: cases.CaseRef
    conversation: cases.ConversationRef | None
    parsed: ParsedMessage
    raw: bytes
    new_text: str
    sender: SenderCheck
    created: bool
    forwarded: bool = False
    """A member forwarded a report that reached them: the case's reporter is the original sender."""


def route(
    conn: Connection, ctx: CommitteeContext, msg: Message, *, now: datetime, head: diary.Head | None
) -> list[int]:
    sender = msg.sender
    flagged: list[int] = []
    unverified = sender.member is not None and not sender.verified
    if unverified:
        flagged, head = _unverified(conn, ctx, msg, now=now, head=head)
    elif sender.member is not None and not msg.created:
        return _from_member(conn, ctx, msg, sender.member, now=now, head=head)
    author = sender.member.name if msg.forwarded and sender.member else None
    if msg.created:
        head = flag_members_named(conn, ctx, msg, now=now, head=head, forwarder=author)
    what = "new report" if msg.created else "message from outside the committee"
    if author:
        what = f"report forwarded by {author}"
    if msg.conversation is not None and msg.conversation.kind is ConversationKind.OUTSIDE and not msg.created:
        what = f"reply in conversation {msg.conversation.number}"
    if unverified:
        what = f"UNVERIFIED: {what} claiming to be from a committee member; nothing in it was obeyed"
    drafted = fanout.fan_out(
        conn, ctx.fanout, msg.case, msg.conversation, msg.parsed, what=what, author=author, now=now, diary_head=head
    )
    return [*flagged, *([drafted.id] if drafted else [])]


def flag_members_named(
    conn: Connection,
    ctx: CommitteeContext,
    msg: Message,
    *,
    now: datetime,
    head: diary.Head | None,
    forwarder: str | None = None,
) -> diary.Head | None:
    """A member named in a new report (as its sender, a recipient, or in its text) may be a party to
    it: they are kept out of the case until a chair clears them (``/clear``) or confirms it."""
    parsed = msg.parsed
    addresses = {a.address.lower() for a in (*parsed.to, *parsed.cc)}
    if parsed.from_addr:
        addresses.add(parsed.from_addr.address.lower())
    text = f"{parsed.subject}\n{parsed.text}".casefold()
    for member in ctx.roster:
        if member.name == forwarder:
            continue  # passing a report on does not make one a party to it
        named = any(a.lower() in addresses or a.lower() in text for a in member.addresses)
        named = named or (len(member.name.split()) > 1 and " ".join(member.name.split()).casefold() in text)
        if named:
            standing.exclude(conn, msg.case.id, member.name, standing.SUSPECTED_PARTY, now=now, by="mailflow")
            _, head = diary.append(
                conn,
                msg.case.id,
                DiaryKind.NOTE,
                after=head,
                at=now,
                actor="mailflow",
                detail={"excluded": member.name, "reason": "named in the report: possibly a party (a chair decides)"},
            )
    return head


def _from_member(
    conn: Connection,
    ctx: CommitteeContext,
    msg: Message,
    member: RosterMember,
    *,
    now: datetime,
    head: diary.Head | None,
) -> list[int]:
    if member.name in standing.excluded(conn, msg.case.id):
        _, head = diary.append(
            conn,
            msg.case.id,
            DiaryKind.NOTE,
            after=head,
            at=now,
            actor="mailflow",
            detail={"refused": f"{member.name} is excluded from this case: nothing relayed, no command obeyed"},
        )
        return []
    conversation = msg.conversation
    if conversation is None or conversation.kind is ConversationKind.TEAM:
        return _internal(conn, ctx, msg, member, now=now, head=head)
    outcome = relay.relay(
        conn, ctx.relay, msg.case, conversation, member, msg.parsed, msg.raw, msg.parsed.text, now=now, head=head
    )
    ids = [d.id for d in (outcome.sent, outcome.answer) if d is not None]
    if outcome.sent is not None:
        copy = fanout.fan_out(
            conn,
            ctx.fanout,
            msg.case,
            conversation,
            msg.parsed,
            what=f"{member.name} wrote to conversation {conversation.number} (relayed)",
            author=member.name,
            body=msg.new_text,
            now=now,
            diary_head=outcome.head,
        )
        ids += [copy.id] if copy else []
    return ids


def _internal(
    conn: Connection,
    ctx: CommitteeContext,
    msg: Message,
    member: RosterMember,
    *,
    now: datetime,
    head: diary.Head | None,
) -> list[int]:
    ids: list[int] = []
    given, rest = commands.parse(msg.new_text)
    _, whole = commands.parse(msg.parsed.text)  # the same commands on top, quoted history kept
    if given:
        results, head = commands.execute(commands.Context(conn, msg.case.id, member, ctx.roster, now), given, head)
        answer = _command_results(conn, ctx, msg, member, results, now=now, head=head)
        ids.append(answer.id)
        head = answer.diary_head
        if member.name in standing.excluded(conn, msg.case.id):
            return ids  # they just recused: not even their own note goes on to the others
    markers = parse_markers(rest)
    added = [m for m in markers.markers if m.sign == "+" and m.address]
    if added:
        label = ", ".join(m.name or m.address or "" for m in added)
        conversation = relay.start_conversation(conn, msg.case.id, (), label=label)
        outcome = relay.relay(
            conn,
            ctx.relay,
            msg.case,
            conversation,
            member,
            msg.parsed,
            msg.raw,
            whole,
            markers=markers,
            previous=None,
            now=now,
            head=head,
        )
        ids += [d.id for d in (outcome.sent, outcome.answer) if d is not None]
        head = outcome.head
    if rest.strip() or not given:
        copy = fanout.fan_out(
            conn,
            ctx.fanout,
            msg.case,
            msg.conversation,
            msg.parsed,
            what=f"internal note from {member.name}",
            author=member.name,
            body=rest if given else msg.new_text,
            now=now,
            diary_head=head,
        )
        ids += [copy.id] if copy else []
    return ids


def _command_results(
    conn: Connection,
    ctx: CommitteeContext,
    msg: Message,
    member: RosterMember,
    results: Sequence[commands.Result],
    *,
    now: datetime,
    head: diary.Head | None,
) -> outbox.Drafted:
    lines = [f"{'done' if r.ok else 'REFUSED'}: {r.command.line}\n    {r.message}" for r in results]
    return _to_member(
        conn, ctx, msg, member, "Commands: " + strip_prefixes(msg.parsed.subject), "\n\n".join(lines), now, head
    )


def _to_member(
    conn: Connection,
    ctx: CommitteeContext,
    msg: Message,
    member: RosterMember,
    subject: str,
    text: str,
    now: datetime,
    head: diary.Head | None,
) -> outbox.Drafted:
    service = ctx.settings.service
    team = cases.conversation(conn, msg.case.id, cases.TEAM)
    assert team is not None
    return outbox.draft(
        conn,
        Draft(
            from_name=service.committee_name,
            from_addr=str(ctx.conduct),
            to=(Address(member.name, member.addresses[0]),),
            subject=with_tag(subject, service.subject_tag, msg.case.ref),
            text=text + "\n",
            reply_to=cases.address_of(ctx.conduct, msg.case.ref, team),
            in_reply_to=msg.parsed.message_id,
            references=(msg.parsed.message_id,) if msg.parsed.message_id else (),
            auto_submitted="auto-replied",
        ),
        kind=OutboundKind.SYSTEM,
        mail_from=str(ctx.conduct),
        case_id=msg.case.id,
        conversation_id=team.id,
        now=now,
        diary_head=head,
    )


def _unverified(
    conn: Connection, ctx: CommitteeContext, msg: Message, *, now: datetime, head: diary.Head | None
) -> tuple[list[int], diary.Head | None]:
    """Flag to the chair(s); nothing goes back to the sender, nothing is relayed or obeyed."""
    claimed = msg.sender.member
    assert claimed is not None
    reasons = "; ".join(msg.sender.reasons) or "no authentication"
    _, head = diary.append(
        conn,
        msg.case.id,
        DiaryKind.NOTE,
        after=head,
        at=now,
        actor="mailflow",
        message_id=msg.parsed.message_id,
        detail={"unverified": f"mail claiming to be from {claimed.name} failed authentication", "why": reasons},
    )
    out = standing.excluded(conn, msg.case.id)
    chairs = [m for m in ctx.roster if m.role == "chair" and m.name not in out and m.name != claimed.name]
    if not chairs:
        return [], head
    service = ctx.settings.service
    team = cases.conversation(conn, msg.case.id, cases.TEAM)
    assert team is not None
    text = (
        f"A mail on case {msg.case.ref} claims to come from {claimed.name} but failed authentication "
        f"({reasons}).\nIt was recorded as unverified; nothing in it was relayed or obeyed, and its sender "
        f"was not answered.\nSee it with: mailflow cases show {msg.case.ref}\n"
    )
    flagged = outbox.draft(
        conn,
        Draft(
            from_name=service.committee_name,
            from_addr=str(ctx.conduct),
            to=tuple(Address(m.name, m.addresses[0]) for m in chairs),
            subject=with_tag("Unverified mail in a member's name", service.subject_tag, msg.case.ref),
            text=text,
            reply_to=cases.address_of(ctx.conduct, msg.case.ref, team),
            auto_submitted="auto-generated",
        ),
        kind=OutboundKind.SYSTEM,
        mail_from=str(ctx.conduct),
        case_id=msg.case.id,
        conversation_id=team.id,
        now=now,
        diary_head=head,
    )
    return [flagged.id], flagged.diary_head
