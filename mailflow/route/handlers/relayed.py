"""A member's mail to an outside conversation's address: relayed in the committee's name, after the gate.

What the committee writes for itself never reaches a party. Command lines at the top of such a mail
(``/state investigating``, ``/note ...``) are obeyed exactly as if they had gone to the internal
address, each a diary entry (a note stays in the diary), their results mailed back to the member,
and the lines are taken off before the gate sees the body: the party receives only what follows
them. The gate also holds any mail that still quotes the committee's notes, commands, approval
requests or internal addresses (rule ``committee-only``).

Through the submission listener a member may also address outside people directly in To/Cc: they
are the recipients, in the conversation they already share (else a new one).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from mailflow.case import standing
from mailflow.committee import commands
from mailflow.model import ConversationKind
from mailflow.route import fanout, relay
from mailflow.route.context import RouteContext
from mailflow.route.handlers import direct
from mailflow.route.handlers.internal import command_results
from mailflow.route.mail import CaseMail, Routed

NAME = "relayed"


def applies(conn: Connection, ctx: RouteContext, mail: CaseMail) -> bool:
    if mail.member is None:
        return False
    outside = mail.conversation is not None and mail.conversation.kind is ConversationKind.OUTSIDE
    return outside or (mail.submitted and bool(direct.outside_addressed(ctx, mail.parsed)))


def process(conn: Connection, ctx: RouteContext, mail: CaseMail, *, now: datetime) -> Routed:
    member = mail.sender.member
    assert member is not None
    routed = Routed()
    text = mail.parsed.text
    given, rest = commands.parse(mail.new_text)
    if given:
        _, text = commands.parse(mail.parsed.text)  # the body without its command lines, quoted history kept
        command_ctx = commands.Context(conn, mail.case.id, member, ctx.roster, now, ctx.drafting, rest)
        results = commands.execute(command_ctx, given)
        answer = command_results(conn, ctx, mail, member, results, now=now)
        routed += Routed([answer.id])
        if member.name in standing.excluded(conn, mail.case.id) or not rest.strip():
            return routed  # nothing left to say to the party (or they just recused)
    addressed = direct.outside_addressed(ctx, mail.parsed) if mail.submitted else ()
    if addressed:
        conversation, _ = direct.conversation_of(conn, mail, addressed)
        if mail.conversation is not None and mail.conversation.kind is ConversationKind.OUTSIDE:
            conversation = mail.conversation
    else:
        assert mail.conversation is not None
        conversation = mail.conversation
    outcome = relay.relay(
        conn,
        ctx.relay,
        mail.case,
        conversation,
        member,
        mail.parsed,
        text,
        recipients=addressed or None,
        now=now,
    )
    routed += Routed([d.id for d in (outcome.sent, outcome.answer) if d is not None])
    if outcome.sent is not None:
        copy = fanout.fan_out(
            conn,
            ctx.fanout,
            mail.case,
            conversation,
            mail.parsed,
            what=f"{member.name} wrote to conversation {conversation.number} (relayed)",
            author=member.name,
            body=rest if given else mail.new_text,
            now=now,
        )
        routed += Routed([copy.id] if copy else [])
    return routed + Routed(held=() if outcome.decision.allowed else (outcome.decision,))
