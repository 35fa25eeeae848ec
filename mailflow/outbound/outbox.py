"""The outbox: draft (bytes and Message-ID fixed), claim, deliver, retry with backoff.

A mail is claimed with a conditional update, so two workers never send it at once. A crash after
the hand-over but before the commit leaves it ``sending``; the sweep retries it with the same bytes
and Message-ID, which the Maildir transport recognises and a receiving MTA can de-duplicate.
"""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Result, Select, bindparam, func, select
from sqlmodel import Session, col

from mailflow.case import diary
from mailflow.case import service as cases
from mailflow.case.entries import DeliveryFailed, Payload, Sent
from mailflow.clock import utcnow
from mailflow.errors import TransportError
from mailflow.model import AlertKind, Case, OutboundKind, OutboundMessage, OutboundState
from mailflow.model import core as t
from mailflow.outbound import alerts
from mailflow.outbound.compose import Draft, compose, new_message_id
from mailflow.parse.addresses import ConductAddress, ordered_token

STALE_SENDING = timedelta(minutes=10)
MAX_BACKOFF = timedelta(hours=1)

_o = t.outbound.c
_INSERT_BLOB = t.blob.insert().returning(t.blob.c.id)
_INSERT = t.outbound.insert().returning(_o.id)
_SENT_RECENTLY = select(func.count()).where(
    _o.kind == bindparam("kind"), _o.primary_recipient == bindparam("recipient"), _o.created_at >= bindparam("since")
)
_CLAIM = (
    t.outbound.update()
    .where(
        _o.id.in_(bindparam("ids", expanding=True)),
        _o.state.in_([OutboundState.QUEUED, OutboundState.RETRY]),
        _o.next_attempt_at <= bindparam("now"),
    )
    .values(
        state=OutboundState.SENDING,
        attempts=_o.attempts + 1,
        claimed_at=bindparam("now"),
        claimed_by=bindparam("claimant"),
    )
)
_CLAIMED: Select[int, int | None, str, list[str], str, int, bytes] = (
    select(_o.id, _o.case_id, _o.mail_from, _o.recipients, _o.message_id, _o.attempts, t.blob.c.data)
    .join(t.blob, t.blob.c.id == _o.blob_id)
    .where(
        _o.id.in_(bindparam("ids", expanding=True)),
        _o.state == OutboundState.SENDING,
        _o.claimed_by == bindparam("claimant"),
        _o.claimed_at == bindparam("now"),
    )
    .order_by(_o.id)
)
# An outcome lands once: on the attempt it is the outcome of, while that attempt is not decided
# (saving it again after a commit whose answer was lost changes nothing).
_OUTCOME = t.outbound.update().where(
    _o.id == bindparam("outbound_id"),
    _o.attempts == bindparam("attempt"),
    _o.state.in_([OutboundState.SENDING, OutboundState.RETRY]),
)
_UNCLAIM = (
    t.outbound.update()
    .where(
        _o.id.in_(bindparam("ids", expanding=True)),
        _o.state == OutboundState.SENDING,
        _o.claimed_by == bindparam("claimant"),
    )
    .values(state=OutboundState.RETRY, attempts=_o.attempts - 1, next_attempt_at=_o.claimed_at)
)
_UNCLAIM_AT = _UNCLAIM.where(_o.claimed_at == bindparam("now"))
_CLAIMANTS: Select[str | None] = select(_o.claimed_by).where(_o.state == OutboundState.SENDING).distinct()
_DUE = (
    select(_o.id)
    .where(
        _o.state.in_([OutboundState.QUEUED, OutboundState.RETRY]),
        _o.next_attempt_at <= bindparam("now"),
        _o.id % bindparam("count") == bindparam("index"),
    )
    .order_by(_o.id)
    .limit(bindparam("limit"))
)


@dataclass(frozen=True, slots=True)
class Drafted:
    id: int
    message_id: str


def draft(
    conn: Connection,
    content: Draft,
    *,
    kind: OutboundKind,
    case_id: int | None = None,
    conversation_id: int | None = None,
    now: datetime | None = None,
    state: OutboundState = OutboundState.QUEUED,
    entry: Payload | None = None,
) -> Drafted:
    """Store a mail ready to send and, for case mail, record it in the diary (``entry``: what the
    diary says of it, by default that it was drafted in its kind and state). Its envelope sender is
    a return path of its own (``conduct+bounce.TOKEN@``, VERP): only a bounce that comes back there
    says that this mail was not delivered."""
    now = now or utcnow()
    message_id = new_message_id(content.from_addr.rpartition("@")[2])
    bounce_token = ordered_token()
    mail_from = ConductAddress.parse(content.from_addr).bounce_address(bounce_token)
    raw = compose(content, message_id, now)
    blob_id: int = conn.execute(_INSERT_BLOB, {"data": raw}).scalar_one()
    recipients = [a.address for a in (*content.to, *content.cc)]
    outbound_id: int = conn.execute(
        _INSERT,
        {
            "case_id": case_id,
            "conversation_id": conversation_id,
            "kind": kind,
            "state": state,
            "created_at": now,
            "attempts": 0,
            "next_attempt_at": now,
            "message_id": message_id,
            "mail_from": mail_from,
            "recipients": recipients,
            "primary_recipient": recipients[0].lower() if recipients else None,
            "subject": content.subject,
            "blob_id": blob_id,
            "bounce_token": bounce_token,
        },
    ).scalar_one()
    if case_id is not None:
        cases.remember_message_ids(conn, case_id, [message_id], outgoing=True, conversation_id=conversation_id)
        diary.append(
            conn,
            case_id,
            entry or Sent(kind.value, state.value),
            at=now,
            actor="mailflow",
            from_addr=content.from_addr,
            to_addrs=recipients,
            subject=content.subject,
            message_id=message_id,
            new_text=content.text,
            outbound_id=outbound_id,
            content_sha256=hashlib.sha256(raw).hexdigest(),
        )
    return Drafted(outbound_id, message_id)


def sent_recently(conn: Connection, kind: OutboundKind, recipient: str, since: datetime) -> int:
    return int(
        conn.execute(_SENT_RECENTLY, {"kind": kind, "recipient": recipient.lower(), "since": since}).scalar() or 0
    )


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    case_id: int | None
    mail_from: str
    recipients: list[str]
    message_id: str
    attempts: int
    raw: bytes


def _claimant() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"  # computed per call: worker processes fork


def claim_many(conn: Connection, outbound_ids: list[int], now: datetime) -> list[Claimed]:
    """Take the due mails among these for sending; those not due, already taken, or done are left."""
    params = {"ids": outbound_ids, "now": now, "claimant": _claimant()}
    if not outbound_ids or conn.execute(_CLAIM, params).rowcount == 0:
        return []
    return [Claimed(*row) for row in conn.execute(_CLAIMED, params)]


def unclaim(conn: Connection, outbound_ids: list[int], now: datetime | None = None) -> None:
    """Give back mails this process claimed and never handed over: due again, the attempt not
    counted. With ``now``, only what the claim made at that time took (a claim whose commit may or
    may not have landed)."""
    if now is None:
        conn.execute(_UNCLAIM, {"ids": outbound_ids, "claimant": _claimant()})
    else:
        conn.execute(_UNCLAIM_AT, {"ids": outbound_ids, "claimant": _claimant(), "now": now})


def claim(conn: Connection, outbound_id: int, now: datetime) -> Claimed | None:
    claimed = claim_many(conn, [outbound_id], now)
    return claimed[0] if claimed else None


def backoff(attempts: int, base_seconds: float) -> timedelta:
    return min(timedelta(seconds=base_seconds * 2 ** max(0, attempts - 1)), MAX_BACKOFF)


@dataclass(frozen=True, slots=True)
class Outcome:
    state: OutboundState
    attempts: int
    next_attempt_at: datetime | None


def record_outcome(
    conn: Connection,
    claimed: Claimed,
    refused: list[str],
    error: TransportError | None,
    *,
    now: datetime,
    max_attempts: int,
    retry_base_seconds: float,
) -> Outcome:
    key = {"outbound_id": claimed.id, "attempt": claimed.attempts}
    if error is None:
        note = f"refused {len(refused)} of {len(claimed.recipients)} recipients" if refused else None
        conn.execute(_OUTCOME, {**key, "state": OutboundState.SENT, "sent_at": now, "last_error": note})
        return Outcome(OutboundState.SENT, claimed.attempts, None)
    if error.permanent or claimed.attempts >= max_attempts:
        changed = conn.execute(_OUTCOME, {**key, "state": OutboundState.FAILED, "last_error": str(error)}).rowcount
        if changed:
            summary = f"a mail could not be delivered after {claimed.attempts} attempt(s): {error}"
            alerts.raise_alert(conn, AlertKind.DELIVERY_FAILED, summary, now=now, case_id=claimed.case_id,
                               outbound_id=claimed.id)  # fmt: skip
        if changed and claimed.case_id is not None:
            diary.append(
                conn,
                claimed.case_id,
                DeliveryFailed(str(error), claimed.attempts),
                at=now,
                actor="mailflow",
                message_id=claimed.message_id,
                outbound_id=claimed.id,
            )
        return Outcome(OutboundState.FAILED, claimed.attempts, None)
    retry_at = now + backoff(claimed.attempts, retry_base_seconds)
    conn.execute(
        _OUTCOME,
        {
            **key,
            "state": OutboundState.RETRY,
            "last_error": str(error),
            "next_attempt_at": retry_at,
        },
    )
    return Outcome(OutboundState.RETRY, claimed.attempts, retry_at)


def _dead_claimants(conn: Connection) -> list[str]:
    """Claims made by processes on this host that no longer exist (killed mid-send)."""
    host = socket.gethostname()
    dead = []
    for (claimant,) in conn.execute(_CLAIMANTS):
        claim_host, _, pid = (claimant or "").rpartition(":")
        if claim_host == host and pid.isdigit() and not _alive(int(pid)):
            assert claimant is not None  # it held a "host:pid"
            dead.append(claimant)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def release_stuck(conn: Connection, now: datetime) -> None:
    """Hand back mails left 'sending' by a crash: at once when the claimant died on this host,
    after STALE_SENDING when it was elsewhere (or its claim predates claimants)."""
    condition = _o.claimed_at < now - STALE_SENDING
    dead = _dead_claimants(conn)
    if dead:
        condition = condition | _o.claimed_by.in_(dead)
    conn.execute(
        t.outbound.update()
        .where(_o.state == OutboundState.SENDING, condition)
        .values(state=OutboundState.RETRY, next_attempt_at=_o.claimed_at)
    )


def due(conn: Connection, now: datetime, limit: int = 1000, share: tuple[int, int] = (0, 1)) -> list[int]:
    """Mails to (re)try now: queued or retry and due, or stuck in sending after a crash.
    ``share`` (index, count): only the ids equal to index modulo count (one worker process's share)."""
    release_stuck(conn, now)
    index, count = share
    return list(conn.execute(_DUE, {"now": now, "limit": limit, "index": index, "count": count}).scalars())


@dataclass(frozen=True, slots=True)
class OutboxLine:
    id: int
    case: str | None
    kind: str
    state: str
    attempts: int
    recipients: list[str]
    subject: str
    message_id: str
    created_at: datetime
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_outbox(session: Session, *, state: OutboundState | None = None, limit: int = 500) -> list[OutboxLine]:
    query = select(OutboundMessage, col(Case.ref)).join(Case, col(Case.id) == OutboundMessage.case_id, isouter=True)
    if state is not None:
        query = query.where(col(OutboundMessage.state) == state)
    rows: Result[OutboundMessage, str | None] = session.execute(
        query.order_by(col(OutboundMessage.id).desc()).limit(limit)
    )
    return [
        OutboxLine(
            cast(int, o.id),  # loaded rows have their primary key
            ref,
            o.kind.value,
            o.state.value,
            o.attempts,
            o.recipients,
            o.subject,
            o.message_id,
            o.created_at,
            o.last_error,
        )
        for o, ref in rows
    ]
