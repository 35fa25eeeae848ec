"""The case diary: an append-only list of entries, each chained to the previous by SHA-256.

Editing or deleting an entry in the database breaks the chain, and ``verify`` says where.

Writers hand :func:`append` a typed payload (``mailflow.case.entries``); the diary owns the head
of each case's chain for the length of a transaction: the first entry a transaction writes on a
case reads the head, the next ones chain on what it wrote, and a rollback (of the transaction or
of a savepoint) forgets it. Nobody carries a head from call to call. Writers hold the threading
lock (``mailflow.database.lock_for_threading``), so no other transaction writes the same case
meanwhile.

Retention removes personal data from the diary without breaking the chain (:func:`redact`): each
earlier entry loses its addresses, subject, Message-ID, words and detail, and keeps its place, its
hash and what is left (seq, time, kind, a member's name, the message's SHA-256). A ``redaction``
entry appended after them seals each one's (seq, hash, digest of what is left). ``verify`` checks a
redacted entry by its link to its neighbours and by that seal instead of by its fingerprint, which
no longer can be recomputed. We keep no hash of a removed field: the hash of an address is as good
as the address to anyone who can guess it. Anyone with write access to the database could still
rewrite a whole chain, redaction entry included; the digest of the heads published to the board
(``mailflow diary heads``) is what makes that visible.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, event, select
from sqlmodel import Session

from mailflow.case.entries import Payload, Redacted
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
    broken = examine(entries(session, case_id))
    return broken.seq if broken else None


REDACTED = "redacted"
"""The detail of a redacted entry: {"redacted": SEQ of the redaction entry that seals it}."""
_REMOVED = ("from_addr", "subject", "message_id", "new_text")


@dataclass(frozen=True, slots=True)
class Broken:
    seq: int
    why: str


def _residue(fields: dict[str, Any]) -> str:
    """The digest of what retention leaves of an entry."""
    body = {
        "case": fields["case_id"],
        "seq": fields["seq"],
        "at": as_utc(fields["at"]).isoformat(),
        "kind": str(fields["kind"]),
        "actor": fields.get("actor"),
        "inbound": fields.get("inbound_id"),
        "outbound": fields.get("outbound_id"),
        "unverified": bool(fields.get("unverified")),
        "content": fields.get("content_sha256"),
        "prev": fields["prev_hash"],
        "hash": fields["hash"],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8")).hexdigest()


def _redacted_by(fields: dict[str, Any]) -> int | None:
    detail = fields.get("detail") or {}
    value = detail.get(REDACTED) if isinstance(detail, dict) and len(detail) == 1 else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def examine(rows: list[DiaryEntry]) -> Broken | None:
    """The first broken entry of a diary (its rows in seq order) and why, or None when intact."""
    prev = GENESIS
    expected_seq = 1
    waiting: dict[int, list[tuple[int, str, str]]] = {}  # redaction seq -> the entries it must seal
    for entry in rows:
        fields = {c: getattr(entry, c) for c in DiaryEntry.model_fields}
        if entry.seq != expected_seq:
            if entry.seq > expected_seq:
                return Broken(expected_seq, f"entry {expected_seq} is missing (the next is {entry.seq})")
            return Broken(entry.seq, f"entry {entry.seq} is out of order (expected {expected_seq})")
        if entry.prev_hash != prev:
            return Broken(entry.seq, "it does not chain on the entry before it (an entry was edited, removed or moved)")
        sealed_by = _redacted_by(fields)
        if sealed_by is not None:
            if sealed_by <= entry.seq or any(fields.get(c) for c in _REMOVED) or fields.get("to_addrs"):
                return Broken(entry.seq, "a redacted entry holds words or addresses again, or names no later seal")
            waiting.setdefault(sealed_by, []).append((entry.seq, entry.hash, _residue(fields)))
        elif _fingerprint(fields) != entry.hash:
            return Broken(entry.seq, "its content does not match its hash (the entry was edited)")
        else:
            payload = entry.detail if entry.detail.get("note") == Redacted.NAME else None
            if payload is not None:
                found = [tuple(item) for item in payload.get("sealed") or []]
                owed = waiting.pop(entry.seq, [])
                for want, got in zip(found, owed, strict=False):
                    if list(want) != list(got):
                        return Broken(int(want[0]), "a redacted entry does not match the seal of its redaction")
                if len(found) != len(owed):
                    seq = int((found[len(owed) :] or owed[len(found) :])[0][0])
                    return Broken(seq, "a redacted entry is missing from its redaction's seal, or one too many")
        prev, expected_seq = entry.hash, expected_seq + 1
    if waiting:
        first = min(seq for owed in waiting.values() for seq, _, _ in owed)
        return Broken(first, "a redacted entry names a seal that is not in the diary")
    return None


_OF_CASE = select(t.diary).where(t.diary.c.case_id == bindparam("case_id")).order_by(t.diary.c.seq)
_REDACT = (
    t.diary.update()
    .where(t.diary.c.id == bindparam("entry_id"))
    .values(
        actor=bindparam("new_actor"),
        from_addr=None,
        to_addrs=[],
        subject=None,
        message_id=None,
        new_text=None,
        detail=bindparam("new_detail"),
    )
)


def redact(
    conn: Connection,
    case_id: int,
    *,
    keep_actors: frozenset[str],
    reason: str,
    removed: tuple[str, ...] = (),
    at: datetime | None = None,
) -> Written | None:
    """Remove the personal data of every entry of a case's diary not redacted yet, and seal them
    with a redaction entry (None when there was nothing to redact). ``keep_actors``: the names an
    entry may keep as its actor (the committee's members, "mailflow"); any other actor is removed."""
    current = head(conn, case_id)
    seal_seq = current.seq + 1
    sealed: list[tuple[int, str, str]] = []
    for row in conn.execute(_OF_CASE, {"case_id": case_id}).mappings():
        fields = dict(row)
        if _redacted_by(fields) is not None or (fields["detail"] or {}).get("note") == Redacted.NAME:
            continue
        actor = fields["actor"] if fields["actor"] in keep_actors else None
        conn.execute(_REDACT, {"entry_id": fields["id"], "new_actor": actor, "new_detail": {REDACTED: seal_seq}})
        fields.update(actor=actor)
        sealed.append((fields["seq"], fields["hash"], _residue(fields)))
    if not sealed:
        return None
    return append(conn, case_id, Redacted(tuple(sealed), reason, removed), at=at, actor="mailflow")
