"""Cases: opening one, its parties and conversations, and the Message-IDs it has seen or sent."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select

from mailflow.model import CaseState, ConversationKind, PartyRole
from mailflow.model import core as t
from mailflow.parse.addresses import ConductAddress, new_token
from mailflow.parse.message import Address

TEAM = 0
REPORTER_CONVERSATION = 1


@dataclass(frozen=True, slots=True)
class CaseRef:
    id: int
    ref: str


@dataclass(frozen=True, slots=True)
class ConversationRef:
    id: int
    case_id: int
    number: int
    kind: ConversationKind
    token: str


_NEXT_NUMBER = select(func.max(t.cases.c.number)).where(t.cases.c.year == bindparam("year"))
_INSERT_CASE = t.cases.insert().returning(t.cases.c.id)
_INSERT_CONVERSATION = t.conversation.insert().returning(t.conversation.c.id, sort_by_parameter_order=True)
_INSERT_PARTY = t.party.insert()
_BY_REF = select(t.cases.c.id, t.cases.c.ref).where(t.cases.c.ref == bindparam("ref"))
_CONVERSATION_COLUMNS = (
    t.conversation.c.id,
    t.conversation.c.case_id,
    t.conversation.c.number,
    t.conversation.c.kind,
    t.conversation.c.token,
)
_CONVERSATION = select(*_CONVERSATION_COLUMNS).where(
    t.conversation.c.case_id == bindparam("case_id"), t.conversation.c.number == bindparam("number")
)
_BY_TOKEN = (
    select(*_CONVERSATION_COLUMNS, t.cases.c.ref)
    .join(t.cases, t.cases.c.id == t.conversation.c.case_id)
    .where(t.conversation.c.token == bindparam("token"))
)
_CONVERSATIONS_OF = select(*_CONVERSATION_COLUMNS, t.conversation.c.recipients).where(
    t.conversation.c.case_id == bindparam("case_id")
)
_PARTY_ADDRESSES: Select[str | None] = select(t.party.c.address).where(t.party.c.case_id == bindparam("case_id"))
_TOUCH = t.cases.update().where(t.cases.c.id == bindparam("case_id")).values(updated_at=bindparam("now"))


def next_ref(conn: Connection, year: int) -> tuple[int, str]:
    number = int(conn.execute(_NEXT_NUMBER, {"year": year}).scalar() or 0) + 1
    return number, f"{year}-{number:04d}"


@dataclass(frozen=True, slots=True)
class OpenedCase:
    case: CaseRef
    team: ConversationRef
    reporter_conversation: ConversationRef


def open_case(
    conn: Connection,
    *,
    reporter: Address | None,
    subject: str,
    opened_at: datetime,
    related_case_id: int | None = None,
    imported: bool = False,
) -> OpenedCase:
    """A new case with its reporter, the team's internal conversation and the reporter conversation."""
    number, ref = next_ref(conn, opened_at.year)
    case_id: int = conn.execute(
        _INSERT_CASE,
        {
            "ref": ref,
            "year": opened_at.year,
            "number": number,
            "state": CaseState.NEW,
            "created_at": opened_at,
            "updated_at": opened_at,
            "subject": subject,
            "related_case_id": related_case_id,
            "imported": imported,
        },
    ).scalar_one()
    recipients = [{"name": reporter.name, "address": reporter.address}] if reporter else []
    conversations: list[dict[str, Any]] = [
        {
            "case_id": case_id,
            "kind": ConversationKind.TEAM,
            "number": TEAM,
            "token": new_token(),
            "label": "team",
            "recipients": [],
        },
        {
            "case_id": case_id,
            "kind": ConversationKind.OUTSIDE,
            "number": REPORTER_CONVERSATION,
            "token": new_token(),
            "label": "reporter",
            "recipients": recipients,
        },
    ]
    team_id: int
    reporter_id: int
    team_id, reporter_id = conn.execute(_INSERT_CONVERSATION, conversations).scalars().all()
    if reporter is not None:
        conn.execute(
            _INSERT_PARTY,
            {
                "case_id": case_id,
                "role": PartyRole.REPORTER,
                "name": reporter.name or None,
                "address": reporter.address,
                "aliases": [],
                "added_at": opened_at,
            },
        )
    return OpenedCase(
        CaseRef(case_id, ref),
        ConversationRef(team_id, case_id, TEAM, ConversationKind.TEAM, conversations[0]["token"]),
        ConversationRef(
            reporter_id, case_id, REPORTER_CONVERSATION, ConversationKind.OUTSIDE, conversations[1]["token"]
        ),
    )


def touch(conn: Connection, case_id: int, now: datetime) -> None:
    conn.execute(_TOUCH, {"case_id": case_id, "now": now})


def by_ref(conn: Connection, ref: str) -> CaseRef | None:
    row = conn.execute(_BY_REF, {"ref": ref}).first()
    return CaseRef(row[0], row[1]) if row else None


def _conversation(row: object) -> ConversationRef:
    id_, case_id, number, kind, token = row[:5]  # type: ignore[index]
    return ConversationRef(id_, case_id, number, ConversationKind(kind), token)


def conversation(conn: Connection, case_id: int, number: int) -> ConversationRef | None:
    row = conn.execute(_CONVERSATION, {"case_id": case_id, "number": number}).first()
    return _conversation(row) if row else None


def conversation_by_token(conn: Connection, ref: str, token: str) -> ConversationRef | None:
    """The conversation a case address names, if its token verifies for that case reference."""
    row = conn.execute(_BY_TOKEN, {"token": token}).first()
    return _conversation(row) if row and row[5] == ref else None


_CASE_ADDRESS_TOKEN = re.compile(rb"\+\d{4}-\d{4,}\.([a-z2-7]{6,32})@", re.IGNORECASE)
_TEAM_TOKENS: Select[str] = select(t.conversation.c.token).where(
    t.conversation.c.token.in_(bindparam("tokens", expanding=True)),
    t.conversation.c.kind == ConversationKind.TEAM,
)


def internal_tokens_in(conn: Connection, conduct: ConductAddress, raw: bytes) -> list[str]:
    """The tokens of every case's internal address that ``raw`` mentions (any case: a member on
    two cases may paste the other one's committee mail)."""
    local = conduct.local.encode()
    found = {
        m.group(1).decode().lower()
        for m in _CASE_ADDRESS_TOKEN.finditer(raw)
        if raw[max(m.start() - len(local), 0) : m.start()].lower() == local
    }
    if not found:
        return []
    return list(conn.execute(_TEAM_TOKENS, {"tokens": sorted(found)}).scalars())


def address_of(conduct: ConductAddress, ref: str, conv: ConversationRef) -> str:
    return conduct.case_address(ref, conv.token)


def remember_message_ids(
    conn: Connection, case_id: int, message_ids: Iterable[str | None], *, outgoing: bool, conversation_id: int | None
) -> None:
    rows = [
        {"case_id": case_id, "message_id": mid, "outgoing": outgoing, "conversation_id": conversation_id}
        for mid in message_ids
        if mid
    ]
    t.insert_ignoring_duplicates(conn, t.case_message_id, rows)


@dataclass(frozen=True, slots=True)
class SeenMessageId:
    case_id: int
    conversation_id: int | None
    message_id: str


_SEEN: Select[int, int | None, str] = select(
    t.case_message_id.c.case_id, t.case_message_id.c.conversation_id, t.case_message_id.c.message_id
).where(t.case_message_id.c.message_id.in_(bindparam("ids", expanding=True)))


def cases_by_message_ids(conn: Connection, message_ids: tuple[str, ...]) -> list[SeenMessageId]:
    """The cases that have seen or sent any of these Message-IDs, in the order of the IDs given."""
    if not message_ids:
        return []
    rows = [SeenMessageId(*row) for row in conn.execute(_SEEN, {"ids": list(message_ids)})]
    order = {mid: i for i, mid in enumerate(message_ids)}
    return sorted(rows, key=lambda row: order[row.message_id])


def conversations_of(conn: Connection, case_id: int) -> list[tuple[ConversationRef, list[dict[str, str]]]]:
    return [(_conversation(row), row[5]) for row in conn.execute(_CONVERSATIONS_OF, {"case_id": case_id})]


_PROTECTED_ADDRESSES: Select[str | None] = select(t.party.c.address).where(
    t.party.c.case_id == bindparam("case_id"), t.party.c.role.in_([PartyRole.REPORTER, PartyRole.HARMED])
)


def protected_addresses(conn: Connection, case_id: int) -> set[str]:
    """The addresses of the case's reporters and harmed persons."""
    return {a.lower() for a in conn.execute(_PROTECTED_ADDRESSES, {"case_id": case_id}).scalars() if a}


def known_addresses(conn: Connection, case_id: int) -> set[str]:
    """Addresses already on a case: its parties and every outside conversation's recipients."""
    addresses = {a for (a,) in conn.execute(_PARTY_ADDRESSES, {"case_id": case_id}) if a}
    for _conv, recipients in conversations_of(conn, case_id):
        addresses.update(r["address"] for r in recipients if r.get("address"))
    return {a.lower() for a in addresses}
