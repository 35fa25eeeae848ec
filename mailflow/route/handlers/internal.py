"""A member's mail to the case's internal address: it stays inside the committee.

In order: a chair's answer to an approval request (approve, reject, or an edited notice) or to a
hold notice (``release REASON``); commands at the top (``mailflow.committee.commands``), each a
diary entry naming its author, with the results mailed back; ``[+ Name <address>]`` lines that
open a new outside conversation (relayed through the gate); and what is left, fanned out to the
other members. A mail that named an outside conversation's address beside the internal one stays
inside as well (the internal address wins), and its author is told that nothing was relayed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from mailflow.auth import RosterMember
from mailflow.case import conversations, diary, standing
from mailflow.case import service as cases
from mailflow.case.entries import ApprovalRefused, ReleaseRefused
from mailflow.committee import commands
from mailflow.drafting import approval, drafts
from mailflow.model import ConversationKind
from mailflow.outbound import held, outbox
from mailflow.outbound.to_members import to_members
from mailflow.parse.subject import strip_prefixes
from mailflow.policy.markers import parse_markers
from mailflow.route import fanout, relay
from mailflow.route.context import RouteContext
from mailflow.route.mail import CaseMail, Routed

NAME = "internal"


def applies(conn: Connection, ctx: RouteContext, mail: CaseMail) -> bool:
    return mail.member is not None and (mail.conversation is None or mail.conversation.kind is ConversationKind.TEAM)


def process(conn: Connection, ctx: RouteContext, mail: CaseMail, *, now: datetime) -> Routed:
    member = _member(ctx, mail)
    routed = Routed()
    if mail.thread.also_addressed:
        routed += _stayed_inside(conn, ctx, mail, member, now=now)
    release = held.parse_release(mail.new_text, mail.parsed.text)
    if release is not None:
        return routed + _release(conn, ctx, mail, member, release, now=now)
    reply = approval.parse(mail.new_text, mail.parsed.text)
    if reply is not None:
        return routed + _decide(conn, ctx, mail, member, reply, now=now)
    given, rest = commands.parse(mail.new_text)
    _, whole = commands.parse(mail.parsed.text)  # the same commands on top, quoted history kept
    if given:
        command_ctx = commands.Context(conn, mail.case.id, member, ctx.roster, now, ctx.drafting, rest)
        results = commands.execute(command_ctx, given)
        answer = command_results(conn, ctx, mail, member, results, now=now)
        routed += Routed([answer.id])
        if member.name in standing.excluded(conn, mail.case.id):
            return routed  # they just recused: not even their own note goes on to the others
    markers = parse_markers(rest)
    added = [m for m in markers.markers if m.sign == "+" and m.address]
    if added:
        label = ", ".join(m.name or m.address or "" for m in added)
        conversation = conversations.start(conn, mail.case.id, label=label)
        outcome = relay.relay(
            conn,
            ctx.relay,
            mail.case,
            conversation,
            member,
            mail.parsed,
            whole,
            markers=markers,
            previous=None,
            now=now,
        )
        routed += Routed([d.id for d in (outcome.sent, outcome.answer) if d is not None])
    if rest.strip() or not given:
        copy = fanout.fan_out(
            conn,
            ctx.fanout,
            mail.case,
            mail.conversation,
            mail.parsed,
            what=f"internal note from {member.name}",
            author=member.name,
            body=rest if given else mail.new_text,
            now=now,
        )
        routed += Routed([copy.id] if copy else [])
    return routed


def _member(ctx: RouteContext, mail: CaseMail) -> RosterMember:
    assert mail.sender.member is not None
    return mail.sender.member


def _stayed_inside(
    conn: Connection, ctx: RouteContext, mail: CaseMail, member: RosterMember, *, now: datetime
) -> Routed:
    named = [c.number for c, _ in cases.conversations_of(conn, mail.case.id) if c.id in mail.thread.also_addressed]
    numbers = ", ".join(str(n) for n in named)
    text = (
        f"Your mail had the case's internal address and the address of conversation {numbers} in To or Cc.\n"
        "It stayed inside the committee: nothing of it was sent outside (the internal address wins).\n"
        "To write to the people of a conversation, write to that conversation's address alone.\n"
    )
    subject = "Not relayed: " + strip_prefixes(mail.parsed.subject)
    answer = to_members(
        conn, ctx.settings, mail.case, [member], subject, text, now=now, in_reply_to=mail.parsed.message_id
    )
    return Routed([answer.id])


def _release(
    conn: Connection,
    ctx: RouteContext,
    mail: CaseMail,
    member: RosterMember,
    reply: held.ReleaseReply,
    *,
    now: datetime,
) -> Routed:
    """A chair's ``release REASON`` to a hold notice: obeyed once, only from a chair who may act on the case."""
    kept = held.by_token(conn, reply.token)
    ids: list[int] = []
    try:
        if kept is None or kept.case_id != mail.case.id:
            raise held.ReleaseRefused("the release token matches no held mail of this case; nothing was sent")
        if member not in ctx.chairs(conn, mail.case.id):
            raise held.ReleaseRefused("only a chair who may act on this case can release held mail; nothing was sent")
        held.release(conn, kept, chair=member.name, reason=reply.reason, now=now)
        ids.append(kept.outbound_id)
        text = f"Released held mail {kept.id}: it is on its way. Your reason is in the case diary."
    except held.ReleaseRefused as exc:
        text = f"Not done: {exc}"
        refused = ReleaseRefused(str(exc)[:300], kept.id if kept else None)
        diary.append(conn, mail.case.id, refused, at=now, actor=member.name)
    subject = "Release: " + strip_prefixes(mail.parsed.subject)
    answer = to_members(
        conn, ctx.settings, mail.case, [member], subject, text, now=now, in_reply_to=mail.parsed.message_id
    )
    return Routed([*ids, answer.id])


def _decide(
    conn: Connection,
    ctx: RouteContext,
    mail: CaseMail,
    member: RosterMember,
    reply: approval.ApprovalReply,
    *,
    now: datetime,
) -> Routed:
    """A member's answer to an approval request: obeyed only from a chair who may decide, once."""
    draft = drafts.by_token(conn, reply.token)
    try:
        if draft is None or draft.case_id != mail.case.id:
            raise drafts.DraftError("the approval token matches no draft of this case; nothing was sent")
        if reply.verb == "unclear":
            raise drafts.DraftError(
                "say 'approve' or 'reject REASON' on the first line, or put the edited notice between the lines"
                f" {drafts.BEGIN_EDIT!r} and {drafts.END_EDIT!r}; nothing was sent"
            )
        if reply.verb == "reject":
            decided = approval.reject(conn, ctx.drafting, draft, member.name, reply.reason, now=now)
        else:
            decided = approval.approve(conn, ctx.drafting, draft, member.name, now=now, edited_text=reply.edited_text)
        text = decided.message
        ids = list(decided.outbound_ids)
    except drafts.DraftError as exc:
        text, ids = f"Not done: {exc}", []
        refusal = ApprovalRefused(str(exc)[:300], draft.id if draft else None)
        diary.append(conn, mail.case.id, refusal, at=now, actor=member.name)
    subject = "Approval: " + strip_prefixes(mail.parsed.subject)
    answer = to_members(
        conn, ctx.settings, mail.case, [member], subject, text, now=now, in_reply_to=mail.parsed.message_id
    )
    return Routed([*ids, answer.id])


def command_results(
    conn: Connection,
    ctx: RouteContext,
    mail: CaseMail,
    member: RosterMember,
    results: Sequence[commands.Result],
    *,
    now: datetime,
) -> outbox.Drafted:
    """Each command's outcome, mailed back to its author; what other members must hear, to them
    (only members who may act on the case: an excluded member hears nothing of it)."""
    lines = [f"{'done' if r.ok else 'REFUSED'}: {r.command.line}\n    {r.message}" for r in results]
    subject = "Commands: " + strip_prefixes(mail.parsed.subject)
    out = standing.excluded(conn, mail.case.id)
    for result in results:
        for tell in result.tell:
            members = [m for m in ctx.roster if m.name in tell.to and m.name not in out]
            if members:
                to_members(conn, ctx.settings, mail.case, members, tell.subject, tell.text, now=now,
                           automatic="auto-generated")  # fmt: skip
    return to_members(
        conn,
        ctx.settings,
        mail.case,
        [member],
        subject,
        "\n\n".join(lines),
        now=now,
        in_reply_to=mail.parsed.message_id,
    )
