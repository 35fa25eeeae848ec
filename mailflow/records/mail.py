"""Records mailed to members: the incident log, patterns across cases.

Such a mail carries several cases at once, so it belongs to none: it has no diary entry (the
command that asked for it has one), Reply-To is the internal address of the case it was asked
from, and its bytes are emptied once it has left (``retention.scrub_records_mail``), so that each
case's retention finds nothing of it in the database.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from mailflow.auth import RosterMember
from mailflow.case import service as cases
from mailflow.config import Settings
from mailflow.model import OutboundKind
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft, OutAttachment
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.message import Address
from mailflow.records import tables as r


def to_member(
    conn: Connection,
    settings: Settings,
    member: RosterMember,
    subject: str,
    text: str,
    *,
    what: str,
    now: datetime,
    reply_case: cases.CaseRef | None = None,
    in_reply_to: str | None = None,
    attachments: Sequence[OutAttachment] = (),
) -> int:
    service = settings.service
    conduct = ConductAddress.parse(service.conduct_address)
    reply_to = None
    if reply_case is not None:
        team = cases.conversation(conn, reply_case.id, cases.TEAM)
        reply_to = cases.address_of(conduct, reply_case.ref, team) if team else None
    drafted = outbox.draft(
        conn,
        Draft(
            from_name=service.committee_name,
            from_addr=str(conduct),
            to=(Address(member.name, member.addresses[0]),),
            subject=f"[{service.subject_tag}] {subject}",
            text=text if text.endswith("\n") else text + "\n",
            reply_to=reply_to,
            in_reply_to=in_reply_to,
            references=(in_reply_to,) if in_reply_to else (),
            auto_submitted="auto-replied",
            attachments=tuple(attachments),
        ),
        kind=OutboundKind.SYSTEM,
        now=now,
    )
    conn.execute(r.records_mail.insert(), {"outbound_id": drafted.id, "what": what, "created_at": now})
    return drafted.id
