"""The case diary: an append-only list of entries, each chained to the previous by SHA-256.

Editing or deleting an entry in the database breaks the chain, and ``verify`` says where.

Writers hand :func:`append` a typed payload (``mailflow.case.entries``); the diary owns the head
of each case's chain for the length of a transaction: the first entry a transaction writes on a
case reads the head, the next ones chain on what it wrote, and a rollback (of the transaction or
of a savepoint) forgets it. Nobody carries a head from call to call. Writers hold the threading
lock (``mailflow.database.lock_for_threading``), so no other transaction writes the same case
meanwhile.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, event, select
from sqlmodel import Session

from mailflow.case.entries import Payload
from mailflow.clock import as_utc, utcnow
from mailflow.model import DiaryEntry
from mailflow.model import core as t

GENESIS = "0" * 64
_HEADS = "mailflow.diary.heads"

_HEAD = (
    select(t.diary.c.seq, t.diary.c.hash)
    .where(t.diary.c.case_id == bindparam("case_id"))
    .order_by(t.diary.c.seq.desc())
    .limit(1)
)
_INSERT = t.diary.insert().returning(t.diary.c.id)


@dataclass(frozen=True, slots=True)
class Head:
    """The last entry of a case's diary: where the next one chains on."""

    seq: int
    hash: str


EMPTY = Head(0, GENESIS)


@dataclass(frozen=True, slots=True)
class Written:
    id: int
    seq: int


def _fingerprint(fields: dict[str, Any]) -> str:
    body = {
        "case": fields["case_id"],
        "seq": fields["seq"],
        "at": as_utc(fields["at"]).isoformat(),
        "kind": str(fields["kind"]),
        "actor": fields.get("actor"),
        "from": fields.get("from_addr"),
        "to": fields.get("to_addrs") or [],
        "subject": fields.get("subject"),
        "message_id": fields.get("message_id"),
        "new_text": fields.get("new_text"),
        "inbound": fields.get("inbound_id"),
        "outbound": fields.get("outbound_id"),
        "detail": fields.get("detail") or {},
        "prev": fields["prev_hash"],
    }
    if fields.get("unverified"):
        body["unverified"] = True
    if fields.get("content_sha256"):
        body["content"] = fields["content_sha256"]  # the message's bytes, as received or sent
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def _heads(conn: Connection) -> dict[int, Head]:
    heads: dict[int, Head] = conn.info.setdefault(_HEADS, {})
    return heads


@event.listens_for(Engine, "begin")
@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _forget(conn: Connection) -> None:
    conn.info.pop(_HEADS, None)


@event.listens_for(Engine, "rollback_savepoint")
def _forget_savepoint(conn: Connection, name: str, context: object) -> None:
    conn.info.pop(_HEADS, None)


def head(conn: Connection, case_id: int) -> Head:
    """The head of the case's chain as this transaction sees it."""
    known = _heads(conn).get(case_id)
    if known is not None:
        return known
    row = conn.execute(_HEAD, {"case_id": case_id}).first()
    return Head(row[0], row[1]) if row else EMPTY


def started(conn: Connection, case_id: int) -> None:
    """A case this transaction just opened: its diary is empty (no need to read the head)."""
    _heads(conn)[case_id] = EMPTY


def append(
    conn: Connection,
    case_id: int,
    payload: Payload,
    *,
    at: datetime | None = None,
    **fields: Any,
) -> Written:
    """Add an entry at the end of a case's diary (the caller holds the threading lock).

    ``fields`` are the entry's columns besides the payload: actor, from_addr, to_addrs, subject,
    message_id, new_text, inbound_id, outbound_id, unverified, content_sha256 (the SHA-256 of the
    message it records: the chain then covers its bytes)."""
    prev = head(conn, case_id)
    row: dict[str, Any] = {
        "case_id": case_id,
        "seq": prev.seq + 1,
        "at": as_utc(at or utcnow()),
        "kind": payload.kind,
        "prev_hash": prev.hash,
        "to_addrs": [],
        "unverified": False,
        **fields,
        "detail": payload.detail(),
    }
    row["to_addrs"] = list(row["to_addrs"] or [])
    row["hash"] = _fingerprint(row)
    entry_id: int = conn.execute(_INSERT, row).scalar_one()
    _heads(conn)[case_id] = Head(row["seq"], row["hash"])
    return Written(entry_id, row["seq"])


def entries(session: Session, case_id: int) -> list[DiaryEntry]:
    return list(
        session.scalars(select(DiaryEntry).where(DiaryEntry.case_id == case_id).order_by(DiaryEntry.seq))  # type: ignore[arg-type]
    )


def verify(session: Session, case_id: int) -> int | None:
    """The seq of the first entry whose chain is broken, or None when the diary is intact."""
    prev = GENESIS
    expected_seq = 1
    for entry in entries(session, case_id):
        fields = {c: getattr(entry, c) for c in DiaryEntry.model_fields}
        if entry.seq != expected_seq or entry.prev_hash != prev or _fingerprint(fields) != entry.hash:
            return entry.seq
        prev, expected_seq = entry.hash, expected_seq + 1
    return None
