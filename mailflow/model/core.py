"""The tables as SQLAlchemy Core objects, for the hot path.

The intake path runs a dozen statements per message. Built once at import with bind parameters and
executed on a Connection, a statement costs about 0.04 ms here; built per call through the ORM
Session it costs 0.2-0.4 ms (object construction and validation), which was most of a report's
processing time (benchmarks/README.md). Views and tests keep using the sqlmodel classes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

from mailflow.model.tables import (
    Alert,
    Blob,
    Case,
    CaseMember,
    CaseMessageId,
    Conversation,
    Deadline,
    DiaryEntry,
    HeldMail,
    ImapWatermark,
    InboundMessage,
    KeyringCheck,
    NoticeDraft,
    OutboundMessage,
    Party,
    Proposal,
    Vote,
)

blob: Table = Blob.__table__  # type: ignore[attr-defined]
inbound: Table = InboundMessage.__table__  # type: ignore[attr-defined]
cases: Table = Case.__table__  # type: ignore[attr-defined]
party: Table = Party.__table__  # type: ignore[attr-defined]
conversation: Table = Conversation.__table__  # type: ignore[attr-defined]
case_message_id: Table = CaseMessageId.__table__  # type: ignore[attr-defined]
diary: Table = DiaryEntry.__table__  # type: ignore[attr-defined]
outbound: Table = OutboundMessage.__table__  # type: ignore[attr-defined]
case_member: Table = CaseMember.__table__  # type: ignore[attr-defined]
notice_draft: Table = NoticeDraft.__table__  # type: ignore[attr-defined]
deadline: Table = Deadline.__table__  # type: ignore[attr-defined]
proposal: Table = Proposal.__table__  # type: ignore[attr-defined]
vote: Table = Vote.__table__  # type: ignore[attr-defined]
held_mail: Table = HeldMail.__table__  # type: ignore[attr-defined]
imap_watermark: Table = ImapWatermark.__table__  # type: ignore[attr-defined]
alert: Table = Alert.__table__  # type: ignore[attr-defined]
keyring_check: Table = KeyringCheck.__table__  # type: ignore[attr-defined]


_IGNORING: dict[tuple[str, str], Any] = {}


def insert_ignoring_duplicates(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING, which SQLite and PostgreSQL both speak (built once each)."""
    if not rows:
        return
    key = (conn.dialect.name, table.name)
    statement = _IGNORING.get(key)
    if statement is None:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = _IGNORING[key] = dialect.insert(table).on_conflict_do_nothing()
    conn.execute(statement, rows)
