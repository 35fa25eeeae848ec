"""Mail from outside the committee: a new report, a reply of a party, a report from a form.

A new case's reporter is acknowledged at once (``mailflow.route.acknowledge``), members named in
the report are kept out until a chair clears them, and every message reaches the members who may
see the case (fan-out). Nothing the committee must know stays silent: a report from an automatic
sender (a conference's report form: ``Auto-Submitted: auto-generated``, RFC 3834) gets no
acknowledgement but opens its case like any other, and where its Reply-To names a person the
committee is told to confirm the reporter (``/party reporter NAME <ADDRESS>``) before anything is
sent to that address. A new case that a stranger's mail opened by carrying another case's subject
tag or citing one of its Message-IDs says so.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from mailflow.case import conversations, diary, standing
from mailflow.case.entries import AutomaticReport, MemberExcluded
from mailflow.committee import deadlines as schedule
from mailflow.model import ConversationKind, MessageKind
from mailflow.model import core as t
from mailflow.route import acknowledge, fanout
from mailflow.route.context import RouteContext
from mailflow.route.mail import CaseMail, Routed

NAME = "from outside"

_REF = select(t.cases.c.ref).where(t.cases.c.id == bindparam("case_id"))
_QUIET = (MessageKind.BOUNCE, MessageKind.AUTO_REPLY)


def applies(conn: Connection, ctx: RouteContext, mail: CaseMail) -> bool:
    return mail.member is None or mail.created


def automatic_report(mail: CaseMail) -> bool:
    """A report from an automatic sender (a form): no person to acknowledge, a reporter to confirm."""
    return mail.created and mail.classification.kind is MessageKind.AUTO_REPLY


def process(conn: Connection, ctx: RouteContext, mail: CaseMail, *, now: datetime, label: str = "") -> Routed:
    ids: list[int] = []
    forwarder = mail.member if mail.forwarded else None
    if mail.created:
        schedule.plan_new_case(conn, mail.case.id, now, ctx.settings.notices)
        ids += _acknowledge(conn, ctx, mail, now=now)
        flag_members_named(conn, ctx, mail, now=now, forwarder=forwarder)
        if automatic_report(mail):
            _note_automatic(conn, mail, now=now)
    elif mail.classification.kind in _QUIET:
        return Routed(ids)  # recorded on its case: an automatic answer to our mail is not worth a mail
    what = label + describe(conn, mail, forwarder)
    drafted = fanout.fan_out(
        conn,
        ctx.fanout,
        mail.case,
        mail.conversation,
        mail.parsed,
        what=what,
        author=forwarder,
        now=now,
    )
    return Routed([*ids, *([drafted.id] if drafted else [])])


def describe(conn: Connection, mail: CaseMail, forwarder: str | None) -> str:
    """What the members read at the top of their copy."""
    if mail.created:
        what = f"report forwarded by {forwarder}" if forwarder else "new report"
        if automatic_report(mail):
            what = "new report from an automatic sender (a form?): nobody was acknowledged (RFC 3834)"
            if mail.parsed.reply_to:
                named = ", ".join(f"{a.name} <{a.address}>" if a.name else a.address for a in mail.parsed.reply_to)
                what += (
                    f"; its Reply-To names {named}: if that is the reporter, confirm with"
                    " /party reporter NAME <ADDRESS> (nothing is sent to them before)"
                )
        related = mail.thread.related_case_id
        if related is not None:
            ref: str = conn.execute(_REF, {"case_id": related}).scalar_one()
            if mail.thread.cited:
                what += f"; possibly related to case {ref}: it cited <{mail.thread.cited}>, a mail of that case"
            else:
                what += f"; possibly related to case {ref}: it carried that case's subject tag"
        return what
    conversation = mail.conversation
    if conversation is None or conversation.kind is not ConversationKind.OUTSIDE:
        return "message from outside the committee"
    what = f"reply in conversation {conversation.number}"
    sender = mail.parsed.from_addr.address.lower() if mail.parsed.from_addr else ""
    people = {r.address for r in conversations.recipients_of(conn, conversation.id)}
    if sender and people and sender not in people:
        what += " (its sender is not one of this conversation's recipients)"
    return what


def _acknowledge(conn: Connection, ctx: RouteContext, mail: CaseMail, *, now: datetime) -> list[int]:
    if mail.conversation is None:
        return []
    reason = acknowledge.withheld_reason(
        conn,
        ctx.acknowledgement,
        mail.case,
        mail.parsed,
        mail.classification,
        envelope_from=mail.envelope_from,
        notify=True,
        now=now,
        new_case=True,
    )
    if mail.forwarded:
        reason = "a member forwarded this report: write to the reporter through the case when ready"
    if reason is not None:
        acknowledge.note_withheld(conn, mail.case.id, reason, now)
        return []
    ack = acknowledge.acknowledge(conn, ctx.acknowledgement, mail.case, mail.conversation, mail.parsed, now=now)
    return [ack.id]


def _note_automatic(conn: Connection, mail: CaseMail, *, now: datetime) -> None:
    named = [a.address for a in mail.parsed.reply_to]
    diary.append(conn, mail.case.id, AutomaticReport(bool(named)), at=now, actor="mailflow", to_addrs=named)


def flag_members_named(
    conn: Connection,
    ctx: RouteContext,
    mail: CaseMail,
    *,
    now: datetime,
    forwarder: str | None = None,
) -> None:
    """A member named in a new report (as its sender, a recipient, or in its text) may be a party to
    it: they are kept out of the case until a chair clears them (``/clear``) or confirms it."""
    parsed = mail.parsed
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
            standing.exclude(conn, mail.case.id, member.name, standing.SUSPECTED_PARTY, now=now, by="mailflow")
            excluded = MemberExcluded(member.name, "named in the report: possibly a party (a chair decides)")
            diary.append(conn, mail.case.id, excluded, at=now, actor="mailflow")
