"""Mail from the committee to its own members, in a case's internal thread.

Command results, answers to approvals and releases, hold notices, alerts to the chairs: each is a
mail from the conduct address to some members, Reply-To the case's internal address (so that an
answer stays inside the committee), threaded under the message it answers, marked automatic
(RFC 3834). Written once, here.
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
from mailflow.outbound.compose import Draft
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.message import Address
from mailflow.parse.subject import with_tag


def to_members(
    conn: Connection,
    settings: Settings,
    case: cases.CaseRef,
    members: Sequence[RosterMember],
    subject: str,
    text: str,
    *,
    now: datetime,
    cc: Sequence[RosterMember] = (),
    in_reply_to: str | None = None,
    automatic: str = "auto-replied",
) -> outbox.Drafted:
    """Draft one mail to ``members`` (``cc``: others who should see it) in the case's internal thread."""
    service = settings.service
    conduct = ConductAddress.parse(service.conduct_address)
    team = cases.conversation(conn, case.id, cases.TEAM)
    assert team is not None
    return outbox.draft(
        conn,
        Draft(
            from_name=service.committee_name,
            from_addr=str(conduct),
            to=tuple(Address(m.name, m.addresses[0]) for m in members),
            cc=tuple(Address(m.name, m.addresses[0]) for m in cc if m not in members),
            subject=with_tag(subject, service.subject_tag, case.ref),
            text=text if text.endswith("\n") else text + "\n",
            reply_to=cases.address_of(conduct, case.ref, team),
            in_reply_to=in_reply_to,
            references=(in_reply_to,) if in_reply_to else (),
            auto_submitted=automatic,
        ),
        kind=OutboundKind.SYSTEM,
        case_id=case.id,
        conversation_id=team.id,
        now=now,
    )
