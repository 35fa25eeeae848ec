"""A case's conversations and who is on each: the one owner of conversation recipients.

"If adding or removing people from the recipients list of an email thread, note the change at the
top of the email" (Django communications guidelines): a conversation's outside recipients change
only by a recipient-change marker in mail from an authenticated member (a relay, or a new
conversation opened from the internal address), or when the committee confirms a reporter
(``/party reporter ...`` on a case opened by a form). Never as a side effect of who was in Cc of
someone's mail. Every change is a diary entry (kind ``recipients``, ``to_addrs`` the people now on
it), so ``mailflow cases show`` can say who was on a conversation when.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, bindparam, func, select

from mailflow.case import diary
from mailflow.case.entries import RecipientsChanged
from mailflow.case.service import REPORTER_CONVERSATION, ConversationRef
from mailflow.model import ConversationKind
from mailflow.model import core as t
from mailflow.parse.addresses import new_token
from mailflow.policy.outgoing import Recipient

_c = t.conversation.c
_RECIPIENTS = select(_c.recipients).where(_c.id == bindparam("conversation_id"))
_SET_RECIPIENTS = t.conversation.update().where(_c.id == bindparam("conversation_id"))
_NEXT_NUMBER = select(func.max(_c.number)).where(_c.case_id == bindparam("case_id"))
_INSERT = t.conversation.insert().returning(_c.id)
_REPORTER_CONVERSATION = select(_c.id, _c.case_id, _c.number, _c.kind, _c.token).where(
    _c.case_id == bindparam("case_id"), _c.number == REPORTER_CONVERSATION
)


def recipients_of(conn: Connection, conversation_id: int) -> tuple[Recipient, ...]:
    found: list[dict[str, str]] = conn.execute(_RECIPIENTS, {"conversation_id": conversation_id}).scalar_one()
    return tuple(Recipient(r["address"].lower(), r.get("name") or "") for r in found if r.get("address"))


def set_recipients(
    conn: Connection,
    conversation: ConversationRef,
    recipients: Sequence[Recipient],
    *,
    by: str,
    now: datetime,
) -> bool:
    """Put these people on the conversation; a diary entry says who is on it from now, and who
    changed it. False when nothing changed."""
    before = recipients_of(conn, conversation.id)
    if [(r.address, r.name) for r in before] == [(r.address, r.name) for r in recipients]:
        return False
    rows = [{"name": r.name, "address": r.address} for r in recipients]
    conn.execute(_SET_RECIPIENTS, {"conversation_id": conversation.id, "recipients": rows})
    diary.append(
        conn,
        conversation.case_id,
        RecipientsChanged(conversation.number),
        at=now,
        actor=by,
        to_addrs=[r.address for r in recipients],
    )
    return True


def start(conn: Connection, case_id: int, *, label: str) -> ConversationRef:
    """A new outside conversation (with the reported person, a witness, a mediator), its own address."""
    number = int(conn.execute(_NEXT_NUMBER, {"case_id": case_id}).scalar() or 0) + 1
    token = new_token()
    conversation_id: int = conn.execute(
        _INSERT,
        {
            "case_id": case_id,
            "kind": ConversationKind.OUTSIDE,
            "number": number,
            "token": token,
            "label": label[:100],
            "recipients": [],
        },
    ).scalar_one()
    return ConversationRef(conversation_id, case_id, number, ConversationKind.OUTSIDE, token)


def confirm_reporter(conn: Connection, case_id: int, address: str, name: str, *, by: str, now: datetime) -> bool:
    """A reporter the committee confirmed (``/party reporter ...``) on a case whose reporter
    conversation has nobody yet (a report from a form): they become its recipient. False when the
    conversation already has someone (then only markers change it)."""
    row = conn.execute(_REPORTER_CONVERSATION, {"case_id": case_id}).first()
    if row is None:
        return False
    conversation = ConversationRef(row[0], row[1], row[2], ConversationKind(row[3]), row[4])
    if recipients_of(conn, conversation.id):
        return False
    set_recipients(conn, conversation, [Recipient(address.lower(), name)], by=by, now=now)
    return True
