"""Held mail: what the policy gate stopped waits, reaching nobody, until a chair releases it.

"Every exception is a chair's recorded decision": a mail the gate held is kept exactly as it would
have left (its bytes in the outbox, state ``held``, never claimed by a sender), with the rules that
held it and the people it would go to. A chair (not excluded from the case) may release it, with a
reason, by replying ``release REASON`` to the hold notice (which carries a single-use token) or
with ``mailflow held release ID --as CHAIR --reason TEXT``; the release is a diary entry naming the
chair and the reason, and the mail is queued as it was. A later mail from the same member to the
same conversation that passes the gate supersedes what they had waiting there.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, select

from mailflow.case import conversations, diary
from mailflow.case.entries import Held, Released
from mailflow.case.service import ConversationRef
from mailflow.errors import (
    ReleaseRefused,
)
from mailflow.model import AlertKind, ConversationKind, HeldState, OutboundKind, OutboundState
from mailflow.model import core as t
from mailflow.outbound import alerts, outbox
from mailflow.outbound.compose import Draft
from mailflow.policy.outgoing import Decision, Recipient

TOKEN_LINE = "Release token:"
_TOKEN = re.compile(rf"^[>\s]*{re.escape(TOKEN_LINE)}\s*([a-z0-9]+)\s*$", re.IGNORECASE | re.MULTILINE)
_VERB = re.compile(r"^\s*(?:release|released)\b[:\s]*(.*)$", re.IGNORECASE)

_h = t.held_mail.c
_COLUMNS = (
    _h.id,
    _h.case_id,
    _h.outbound_id,
    _h.conversation_id,
    _h.author,
    _h.token,
    _h.rules,
    _h.summaries,
    _h.recipients,
    _h.state,
    _h.created_at,
)
_BY_ID = select(*_COLUMNS).where(_h.id == bindparam("held_id"))
_BY_TOKEN = select(*_COLUMNS).where(_h.token == bindparam("token"))
_WAITING = select(*_COLUMNS).where(_h.state == HeldState.HELD).order_by(_h.id)
_INSERT = t.held_mail.insert().returning(_h.id)
_DECIDE = t.held_mail.update().where(_h.id == bindparam("held_id"), _h.state == HeldState.HELD)
_SUPERSEDE = t.held_mail.update().where(
    _h.conversation_id == bindparam("in_conversation"),
    _h.author == bindparam("by_author"),
    _h.state == HeldState.HELD,
)
_o = t.outbound.c
_QUEUE = (
    t.outbound.update()
    .where(_o.id == bindparam("outbound_id"), _o.state == OutboundState.HELD)
    .values(state=OutboundState.QUEUED, next_attempt_at=bindparam("now"))
)
_c = t.conversation.c
_CONVERSATION: Select[int, int, int, str, str] = select(_c.id, _c.case_id, _c.number, _c.kind, _c.token).where(
    _c.id == bindparam("conversation_id")
)
_REF = select(t.cases.c.ref).where(t.cases.c.id == bindparam("case_id"))


@dataclass(frozen=True, slots=True)
class HeldMail:
    id: int
    case_id: int
    outbound_id: int
    conversation_id: int | None
    author: str
    token: str
    rules: tuple[str, ...]
    summaries: tuple[str, ...]
    recipients: tuple[Recipient, ...]
    state: HeldState
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ReleaseReply:
    token: str
    reason: str


def _held(row: Row[Any]) -> HeldMail:
    return HeldMail(
        id=row.id,
        case_id=row.case_id,
        outbound_id=row.outbound_id,
        conversation_id=row.conversation_id,
        author=row.author,
        token=row.token,
        rules=tuple(row.rules or ()),
        summaries=tuple(row.summaries or ()),
        recipients=tuple(Recipient(str(r["address"]), str(r.get("name") or "")) for r in row.recipients or ()),
        state=HeldState(row.state),
        created_at=row.created_at,
    )


def hold(
    conn: Connection,
    content: Draft,
    decision: Decision,
    *,
    kind: OutboundKind,
    case_id: int,
    conversation_id: int | None,
    author: str,
    recipients: Sequence[Recipient],
    now: datetime,
) -> HeldMail:
    """Keep ``content`` as it would have left, reaching nobody: the diary says it was held and why."""
    rules = sorted({v.rule for v in decision.violations})
    summaries = [v.summary for v in decision.violations][:20]
    drafted = outbox.draft(
        conn,
        content,
        kind=kind,
        state=OutboundState.HELD,
        case_id=case_id,
        conversation_id=conversation_id,
        now=now,
        entry=Held(kind.value, tuple(rules), tuple(summaries), author),
    )
    token = secrets.token_hex(8)
    held_id: int = conn.execute(
        _INSERT,
        {
            "case_id": case_id,
            "outbound_id": drafted.id,
            "conversation_id": conversation_id,
            "author": author[:200],
            "token": token,
            "rules": rules,
            "summaries": summaries,
            "recipients": [{"name": r.name, "address": r.address} for r in recipients],
            "state": HeldState.HELD,
            "created_at": now,
        },
    ).scalar_one()
    held = by_id(conn, held_id)
    assert held is not None
    summary = f"held mail {held_id} ({kind.value} by {author[:80]}): {', '.join(rules)}"
    alerts.raise_alert(conn, AlertKind.HELD, summary, now=now, case_id=case_id, outbound_id=drafted.id)
    return held


def by_id(conn: Connection, held_id: int) -> HeldMail | None:
    row = conn.execute(_BY_ID, {"held_id": held_id}).first()
    return _held(row) if row else None


def by_token(conn: Connection, token: str) -> HeldMail | None:
    row = conn.execute(_BY_TOKEN, {"token": token.lower()}).first()
    return _held(row) if row else None


def waiting(conn: Connection) -> list[HeldMail]:
    return [_held(row) for row in conn.execute(_WAITING)]


def case_ref(conn: Connection, case_id: int) -> str:
    return str(conn.execute(_REF, {"case_id": case_id}).scalar_one())


def release(conn: Connection, held: HeldMail, *, chair: str, reason: str, now: datetime) -> None:
    """Let one held mail go as it was: queued for sending, the conversation's recipients set to the
    people it goes to, and a diary entry naming the chair and the reason. The caller checks that
    ``chair`` may decide on the case."""
    if not reason.strip():
        raise ReleaseRefused("say why: a release is the chair's recorded decision (a reason is required)")
    changed = conn.execute(
        _DECIDE,
        {"held_id": held.id, "state": HeldState.RELEASED, "decided_at": now, "decided_by": chair, "reason": reason},
    ).rowcount
    if not changed:
        raise ReleaseRefused(f"held mail {held.id} is not waiting any more ({held.state.value})")
    conn.execute(_QUEUE, {"outbound_id": held.outbound_id, "now": now})
    diary.append(
        conn,
        held.case_id,
        Released(held.id, held.rules, reason[:500]),
        at=now,
        actor=chair,
        outbound_id=held.outbound_id,
        to_addrs=[r.address for r in held.recipients],
    )
    if held.conversation_id is not None:
        row = conn.execute(_CONVERSATION, {"conversation_id": held.conversation_id}).one()
        conversation = ConversationRef(row[0], row[1], row[2], ConversationKind(row[3]), row[4])
        conversations.set_recipients(conn, conversation, held.recipients, by=chair, now=now)


def supersede(conn: Connection, *, conversation_id: int, author: str, now: datetime) -> None:
    """A member's mail to a conversation went out: what they had held there will not be released."""
    conn.execute(
        _SUPERSEDE,
        {
            "in_conversation": conversation_id,
            "by_author": author,
            "state": HeldState.SUPERSEDED,
            "decided_at": now,
            "decided_by": author,
            "reason": "a later mail of the author to this conversation was sent",
        },
    )


def parse_release(new_text: str, whole_text: str) -> ReleaseReply | None:
    """A chair's ``release REASON`` in reply to a hold notice (its token quoted), or None."""
    tokens = _TOKEN.findall(whole_text)
    if not tokens:
        return None
    first = next((line for line in new_text.splitlines() if line.strip()), "")
    match = _VERB.match(first)
    return ReleaseReply(tokens[0].lower(), match[1].strip() if match else "")
