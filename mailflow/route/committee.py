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
from mailflow.drafting import approval, drafts
from mailflow.drafting.drafts import DraftingContext
from mailflow.model import ConversationKind, DiaryKind, OutboundKind
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft
from mailflow.outbound.render import Renderer
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.message import Address, ParsedMessage
from mailflow.parse.subject import strip_prefixes, with_tag
from mailflow.policy.markers import parse_markers
from mailflow.policy.outgoing import Decision
from mailflow.route import fanout, relay


@dataclass(frozen=True, slots=True)
class CommitteeContext:
    settings: Settings
    conduct: ConductAddress
    roster: Sequence[RosterMember]
    renderer: Renderer

    @property
    def drafting(self) -> DraftingContext:
        return DraftingContext(self.settings, self.renderer, self.conduct, self.roster)

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
    submitted: bool = False
    """It came through the submission listener: outside recipients in To/Cc are ours to relay to."""


@dataclass(frozen=True, slots=True)
class Routed:
    outbound_ids: list[int]
    held: tuple[Decision, ...] = ()
    """What the policy gate held, for the submission listener to answer with at SMTP time."""


def route(conn: Connection, ctx: CommitteeContext, msg: Message, *, now: datetime, head: diary.Head | None) -> Routed:
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
    return Routed([*flagged, *([drafted.id] if drafted else [])])


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
) -> Routed:
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
        return Routed([])
    conversation = msg.conversation
    direct = _outside_addressed(ctx, msg.parsed)
    if direct and not msg.submitted:
        return _after_the_fact(conn, ctx, msg, member, direct, now=now, head=head)
    if direct:
        conversation = _conversation_for_direct(conn, msg, direct)
    elif conversation is None or conversation.kind is ConversationKind.TEAM:
        return Routed(_internal(conn, ctx, msg, member, now=now, head=head))
    outcome = relay.relay(
        conn,
        ctx.relay,
        msg.case,
        conversation,
        member,
        msg.parsed,
        msg.raw,
        msg.parsed.text,
        recipients=direct or None,
        now=now,
        head=head,
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
    return Routed(ids, () if outcome.decision.allowed else (outcome.decision,))


def _outside_addressed(ctx: CommitteeContext, parsed: ParsedMessage) -> tuple[relay.Recipient, ...]:
    """Outside parties the member put in To/Cc themselves (not the committee, not our addresses)."""
    insiders = ctx.relay.insiders
    found: dict[str, relay.Recipient] = {}
    for address in (*parsed.to, *parsed.cc):
        key = address.address.lower()
        if key not in insiders and not ctx.conduct.accepts(key):
            found.setdefault(key, relay.Recipient(key, address.name))
    return tuple(found.values())


def _conversation_for_direct(
    conn: Connection, msg: Message, direct: tuple[relay.Recipient, ...]
) -> cases.ConversationRef:
    """The outside conversation these recipients belong to: the one addressed or threaded into,
    else the one sharing most recipients with them, else a new one."""
    if msg.conversation is not None and msg.conversation.kind is ConversationKind.OUTSIDE:
        return msg.conversation
    wanted = {r.address for r in direct}
    best: tuple[int, cases.ConversationRef] | None = None
    for conv, recipients in cases.conversations_of(conn, msg.case.id):
        if conv.kind is not ConversationKind.OUTSIDE:
            continue
        shared = len(wanted & {r.get("address", "").lower() for r in recipients})
        if shared and (best is None or shared > best[0]):
            best = (shared, conv)
    if best is not None:
        return best[1]
    return relay.start_conversation(conn, msg.case.id, (), label=", ".join(r.name or r.address for r in direct))


def _after_the_fact(
    conn: Connection,
    ctx: CommitteeContext,
    msg: Message,
    member: RosterMember,
    direct: tuple[relay.Recipient, ...],
    *,
    now: datetime,
    head: diary.Head | None,
) -> Routed:
    """A member wrote to outside parties directly, with the conduct address in Cc ("Always cc
    conduct@"): the mail has left already, so the gate checks the copy and the chair hears of any
    violation. The copy is recorded and reaches the other members like any case mail."""
    conversation = _conversation_for_direct(conn, msg, direct)
    previous = relay.recipients_of(conn, conversation.id) or None
    decision = relay.check(conn, ctx.relay, msg.case, msg.raw, msg.parsed.text, direct, previous)
    ids: list[int] = []
    if not decision.allowed:
        _, head = diary.append(
            conn,
            msg.case.id,
            DiaryKind.NOTE,
            after=head,
            at=now,
            actor="mailflow",
            message_id=msg.parsed.message_id,
            detail={
                "policy violation after the fact": member.name,
                "rules": sorted({v.rule for v in decision.violations}),
                "summaries": [v.summary for v in decision.violations][:20],
            },
        )
        out = standing.excluded(conn, msg.case.id)
        chairs = [m for m in ctx.roster if m.role == "chair" and m.name not in out]
        if chairs:
            text = (
                f"{member.name} wrote directly to outside parties on case {msg.case.ref}, with the conduct address"
                " in Cc. The copy breaks the committee's rules (it has already left):\n\n" + decision.explain()
            )
            flagged = _to_members(conn, ctx, msg, chairs, "Policy violation in a direct mail", text, now, head)
            ids.append(flagged.id)
            head = flagged.diary_head
    conn.execute(
        relay.SET_RECIPIENTS,
        {"conversation_id": conversation.id, "recipients": [{"name": r.name, "address": r.address} for r in direct]},
    )
    copy = fanout.fan_out(
        conn,
        ctx.fanout,
        msg.case,
        conversation,
        msg.parsed,
        what=f"{member.name} wrote directly to outside parties (copy to the conduct address)",
        author=member.name,
        now=now,
        diary_head=head,
    )
    ids += [copy.id] if copy else []
    return Routed(ids)


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
    reply = approval.parse(msg.new_text, msg.parsed.text)
    if reply is not None:
        return _decide(conn, ctx, msg, member, reply, now=now, head=head)
    given, rest = commands.parse(msg.new_text)
    _, whole = commands.parse(msg.parsed.text)  # the same commands on top, quoted history kept
    if given:
        command_ctx = commands.Context(conn, msg.case.id, member, ctx.roster, now, ctx.drafting, rest)
        results, head = commands.execute(command_ctx, given, head)
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


def _decide(
    conn: Connection,
    ctx: CommitteeContext,
    msg: Message,
    member: RosterMember,
    reply: approval.ApprovalReply,
    *,
    now: datetime,
    head: diary.Head | None,
) -> list[int]:
    """A member's answer to an approval request: obeyed only from a chair who may decide, once."""
    draft = drafts.by_token(conn, reply.token)
    try:
        if draft is None or draft.case_id != msg.case.id:
            raise drafts.DraftError("the approval token matches no draft of this case; nothing was sent")
        if reply.verb == "unclear":
            raise drafts.DraftError(
                "say 'approve' or 'reject REASON' on the first line, or put the edited notice between the lines"
                f" {drafts.BEGIN_EDIT!r} and {drafts.END_EDIT!r}; nothing was sent"
            )
        if reply.verb == "reject":
            decided = drafts.reject(conn, ctx.drafting, draft, member.name, reply.reason, now=now, head=head)
        else:
            decided = drafts.approve(
                conn, ctx.drafting, draft, member.name, now=now, edited_text=reply.edited_text, head=head
            )
        text, head = decided.message, decided.head
        ids = [decided.outbound_id] if decided.outbound_id else []
    except drafts.DraftError as exc:
        text, ids = f"Not done: {exc}", []
        _, head = diary.append(
            conn,
            msg.case.id,
            DiaryKind.NOTE,
            after=None,
            at=now,
            actor=member.name,
            detail={"approval refused": str(exc)[:300], "draft": draft.id if draft else None},
        )
    answer = _to_members(conn, ctx, msg, [member], "Approval: " + strip_prefixes(msg.parsed.subject), text, now, head)
    return [*ids, answer.id]


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
    return _to_members(
        conn, ctx, msg, [member], "Commands: " + strip_prefixes(msg.parsed.subject), "\n\n".join(lines), now, head
    )


def _to_members(
    conn: Connection,
    ctx: CommitteeContext,
    msg: Message,
    members: Sequence[RosterMember],
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
            to=tuple(Address(m.name, m.addresses[0]) for m in members),
            subject=with_tag(subject, service.subject_tag, msg.case.ref),
            text=text + "\n",
            reply_to=cases.address_of(ctx.conduct, msg.case.ref, team),
            in_reply_to=msg.parsed.message_id,
            references=(msg.parsed.message_id,) if msg.parsed.message_id else (),
            auto_submitted="auto-replied",
        ),
        kind=OutboundKind.SYSTEM,
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
        case_id=msg.case.id,
        conversation_id=team.id,
        now=now,
        diary_head=head,
    )
    return [flagged.id], flagged.diary_head
