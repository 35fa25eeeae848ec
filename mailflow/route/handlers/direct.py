"""A member's own mail to outside parties with a conduct address in Cc: checked after the fact.

"Always cc conduct@" (Django communications guidelines): the mail has left from the member's own
mail server already, so the gate checks the copy and the chairs hear of any violation. It never
changes a conversation: who was in To or Cc of someone's mail is not a recipient-change marker
(a member who mails the reported person with the reporter's conversation address in Cc does not
reroute the reporter's thread to him). When the mail named a conversation's address beside
outside people who are not that conversation's recipients, the chairs are told what happened.
The copy is recorded and reaches the other members like any case mail.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from mailflow.case import conversations, diary, gate
from mailflow.case import service as cases
from mailflow.case.entries import DirectMail
from mailflow.model import ConversationKind
from mailflow.outbound.to_members import to_members
from mailflow.parse.message import ParsedMessage
from mailflow.policy.outgoing import Recipient, describe_recipients
from mailflow.route import fanout
from mailflow.route.context import RouteContext
from mailflow.route.mail import CaseMail, Routed

NAME = "direct mail, copied"


def outside_addressed(ctx: RouteContext, parsed: ParsedMessage) -> tuple[Recipient, ...]:
    """Outside parties the member put in To/Cc themselves (not the committee, not our addresses)."""
    found: dict[str, Recipient] = {}
    for address in (*parsed.to, *parsed.cc):
        key = address.address.lower()
        if key not in ctx.insiders and not ctx.conduct.accepts(key):
            found.setdefault(key, Recipient(key, address.name))
    return tuple(found.values())


def applies(conn: Connection, ctx: RouteContext, mail: CaseMail) -> bool:
    return mail.member is not None and not mail.submitted and bool(outside_addressed(ctx, mail.parsed))


def process(conn: Connection, ctx: RouteContext, mail: CaseMail, *, now: datetime) -> Routed:
    member = mail.member
    assert member is not None
    direct = outside_addressed(ctx, mail.parsed)
    conversation, fresh = conversation_of(conn, mail, direct)
    if fresh:  # a conversation of its own, so that their answers thread: a new one reroutes nobody
        conversations.set_recipients(conn, conversation, direct, by=member, now=now)
    on_it = conversations.recipients_of(conn, conversation.id)
    decision = gate.judge(
        conn,
        mail.case.id,
        mail.raw,
        mail.parsed.text,
        direct,
        on_it or None,
        conduct=ctx.conduct,
        insiders=ctx.insiders,
    )
    problems: list[str] = []
    if not decision.allowed:
        problems.append(
            "The copy breaks the committee's rules (it has already left):\n\n" + decision.explain().rstrip()
        )
    named = [c for c in _addressed_conversations(conn, mail) if c.kind is ConversationKind.OUTSIDE]
    for addressed in named:
        people = conversations.recipients_of(conn, addressed.id)
        strangers = [r for r in direct if r.address not in {p.address for p in people}]
        if strangers:
            problems.append(
                f"It had conversation {addressed.number}'s address in To or Cc beside "
                f"{describe_recipients(strangers)}, who {'is' if len(strangers) == 1 else 'are'} not on that "
                f"conversation. The mail reached them from {member}'s own mail server; nothing was relayed, and "
                f"conversation {addressed.number} still goes to {describe_recipients(people) or 'nobody'}. They "
                "now know that conversation's address."
            )
    ids: list[int] = []
    if problems:
        checked = DirectMail(
            member,
            violation=not decision.allowed,
            rules=tuple(sorted({v.rule for v in decision.violations})),
            summaries=tuple(v.summary for v in decision.violations[:20]),
            conversations_named=tuple(c.number for c in named),
        )
        diary.append(conn, mail.case.id, checked, at=now, actor="mailflow", message_id=mail.parsed.message_id)
        chairs = ctx.chairs(conn, mail.case.id)
        if chairs:
            text = (
                f"{member} wrote directly to outside parties on case {mail.case.ref}, with a conduct address in To"
                " or Cc.\n\n" + "\n\n".join(problems) + "\n"
            )
            flagged = to_members(
                conn, ctx.settings, mail.case, chairs, "A direct mail to outside parties", text, now=now
            )
            ids.append(flagged.id)
    copy = fanout.fan_out(
        conn,
        ctx.fanout,
        mail.case,
        conversation,
        mail.parsed,
        what=f"{member} wrote directly to outside parties (copy to the conduct address)",
        author=member,
        now=now,
    )
    return Routed([*ids, *([copy.id] if copy else [])])


def _addressed_conversations(conn: Connection, mail: CaseMail) -> list[cases.ConversationRef]:
    wanted = {mail.thread.conversation_id, *mail.thread.also_addressed}
    return [c for c, _ in cases.conversations_of(conn, mail.case.id) if c.id in wanted]


def conversation_of(
    conn: Connection, mail: CaseMail, direct: tuple[Recipient, ...]
) -> tuple[cases.ConversationRef, bool]:
    """The outside conversation whose recipients are these people (the most of them), else a new
    one for them (True: new). A conversation only named in Cc is never theirs by that alone."""
    wanted = {r.address for r in direct}
    best: tuple[int, cases.ConversationRef] | None = None
    for conv, recipients in cases.conversations_of(conn, mail.case.id):
        if conv.kind is not ConversationKind.OUTSIDE:
            continue
        shared = len(wanted & {str(r.get("address", "")).lower() for r in recipients})
        if shared and (best is None or shared > best[0]):
            best = (shared, conv)
    if best is not None:
        return best[1], False
    label = ", ".join(r.name or r.address for r in direct)
    return conversations.start(conn, mail.case.id, label=label), True
