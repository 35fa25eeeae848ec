"""A member excluded from the case (a conflict, a recusal, a party to it): nothing relayed or obeyed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from mailflow.case import diary, standing
from mailflow.case.entries import Refused
from mailflow.route.context import RouteContext
from mailflow.route.mail import CaseMail, Routed

NAME = "excluded member"


def applies(conn: Connection, ctx: RouteContext, mail: CaseMail) -> bool:
    return mail.member is not None and mail.member in standing.excluded(conn, mail.case.id)


def process(conn: Connection, ctx: RouteContext, mail: CaseMail, *, now: datetime) -> Routed:
    refused = Refused(f"{mail.member} is excluded from this case: nothing relayed, no command obeyed")
    diary.append(conn, mail.case.id, refused, at=now, actor="mailflow")
    return Routed()
