"""Mail in a member's or a party's name that failed authentication: recorded, flagged, never obeyed.

A mail whose From is a member's address but that no method vouches for (trusted
Authentication-Results, our DKIM check, a submission login), or a party's mail that our MX says
fails DMARC (or DKIM and SPF) for its domain, is a forgery until shown otherwise: it is recorded
as unverified (``/permission`` refuses such an entry), the chairs are told, the committee's copy
says so at the top, and nothing in it is relayed or obeyed. Its sender gets nothing back.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from mailflow.case import diary
from mailflow.case.entries import Unverified
from mailflow.outbound.to_members import to_members
from mailflow.route.context import RouteContext
from mailflow.route.handlers import from_outside
from mailflow.route.mail import CaseMail, Routed

NAME = "unverified"


def applies(conn: Connection, ctx: RouteContext, mail: CaseMail) -> bool:
    sender = mail.sender
    return (sender.member is not None and not sender.verified) or sender.failed


def process(conn: Connection, ctx: RouteContext, mail: CaseMail, *, now: datetime) -> Routed:
    sender = mail.sender
    reasons = "; ".join(sender.reasons) or "no authentication"
    if sender.member is not None:
        claimed = f"committee member {sender.member.name}"
        label = "UNVERIFIED: claims to come from a committee member; nothing in it was obeyed. "
    else:
        claimed = "a party of the case" if not mail.created else "its sender"
        reasons = "our mail server reports that it failed authentication for its sender's domain"
        label = "UNVERIFIED: it failed authentication for its sender's domain and may be forged. "
    flag = Unverified(f"mail claiming to be from {claimed} failed authentication", reasons)
    diary.append(conn, mail.case.id, flag, at=now, actor="mailflow", message_id=mail.parsed.message_id)
    ids: list[int] = []
    chairs = ctx.chairs(conn, mail.case.id, besides=sender.member.name if sender.member else None)
    if chairs:
        text = (
            f"A mail on case {mail.case.ref} claims to come from {claimed} but failed authentication ({reasons}).\n"
            "It was recorded as unverified: nothing in it was relayed or obeyed, its sender was not answered,\n"
            "and no permission can be taken from it.\n"
            f"See it with: mailflow cases show {mail.case.ref}\n"
        )
        subject = "Unverified mail in a member's name" if sender.member else "Unverified mail in a party's name"
        flagged = to_members(conn, ctx.settings, mail.case, chairs, subject, text, now=now, automatic="auto-generated")
        ids.append(flagged.id)
    return Routed(ids) + from_outside.process(conn, ctx, mail, now=now, label=label)
