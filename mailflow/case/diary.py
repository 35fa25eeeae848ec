"""The case diary: an append-only list of entries, each chained to the previous by SHA-256.

Editing or deleting an entry in the database breaks the chain, and ``verify`` says where.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlmodel import Session

from mailflow.clock import as_utc, utcnow
from mailflow.model import DiaryEntry, DiaryKind
from mailflow.model import core as t

GENESIS = "0" * 64

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
    encoded = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def head(conn: Connection, case_id: int) -> Head:
    row = conn.execute(_HEAD, {"case_id": case_id}).first()
    return Head(row[0], row[1]) if row else EMPTY


def append(
    conn: Connection,
    case_id: int,
    kind: DiaryKind,
    *,
    after: Head | None = None,
    at: datetime | None = None,
    **fields: Any,
) -> tuple[int, Head]:
    """Add an entry at the end of a case's diary (the caller holds the threading lock).

    ``after`` is the head the caller already knows (a case it just opened, an entry it just wrote);
    otherwise it is read. Returns the new entry's id and the new head."""
    prev = after if after is not None else head(conn, case_id)
    row: dict[str, Any] = {
        "case_id": case_id,
        "seq": prev.seq + 1,
        "at": as_utc(at or utcnow()),
        "kind": kind,
        "prev_hash": prev.hash,
        "to_addrs": [],
        "detail": {},
        **fields,
    }
    row["hash"] = _fingerprint(row)
    entry_id: int = conn.execute(_INSERT, row).scalar_one()
    return entry_id, Head(row["seq"], row["hash"])


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
