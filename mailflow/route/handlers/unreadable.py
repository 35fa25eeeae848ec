"""A member's mail that could not be read in full: recorded, nothing relayed, nothing obeyed.

Such a mail (over its time budget, or one the reading failed on) is kept exactly as it arrived and
recorded on its case with a note in place of its content. What the gate cannot read to the end does
not leave, and commands nobody could read are not commands: its author is told to send it again in
a simpler form (plain text, no attachments that need reading). A report or a party's mail in the
same state is heard as any other (``from_outside``): the reporter is acknowledged, the committee
is told, and the chairs are alerted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from mailflow.case import diary
from mailflow.case.entries import Refused
from mailflow.outbound.to_members import to_members
from mailflow.parse.subject import strip_prefixes
from mailflow.route.context import RouteContext
from mailflow.route.mail import CaseMail, Routed

NAME = "unreadable"


def applies(conn: Connection, ctx: RouteContext, mail: CaseMail) -> bool:
    return mail.unread is not None and mail.member is not None


def process(conn: Connection, ctx: RouteContext, mail: CaseMail, *, now: datetime) -> Routed:
    member = mail.sender.member
    assert member is not None
    why = f"{member.name}'s mail could not be read in full ({mail.unread}): nothing relayed, no command obeyed"
    diary.append(conn, mail.case.id, Refused(why[:300]), at=now, actor="mailflow")
    text = (
        f"Your mail could not be read in full ({mail.unread}). It is kept as it arrived and recorded on the"
        " case, but nothing of it was relayed and no command in it was obeyed.\n"
        "Please send it again in a simpler form: plain text, without attachments that need reading.\n"
    )
    subject = "Not read: " + strip_prefixes(mail.parsed.subject)
    answer = to_members(conn, ctx.settings, mail.case, [member], subject, text, now=now)
    return Routed([answer.id])
