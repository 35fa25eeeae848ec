"""Alerts: what the chairs must hear of that has no case mail of its own to tell them.

A message stored that belongs to no case, a message that could not be processed (quarantined), a
mail that came back or could not be delivered: each is an alert row the moment it happens (so
``mailflow status`` counts it at once), and the chairs get them in a digest, at most one mail per
kind in ``[notices] digest_hours`` (a day by default). Summaries name what happened, never a
body or a reporter's address.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Select, func, select

from mailflow.model import AlertKind
from mailflow.model import core as t

_a = t.alert.c
_INSERT = t.alert.insert()
_PENDING = (
    select(_a.id, _a.kind, _a.case_id, _a.inbound_id, _a.outbound_id, _a.summary, _a.created_at)
    .where(_a.notified_at.is_(None))
    .order_by(_a.id)
)
_COUNTS: Select[str, int] = select(_a.kind, func.count()).where(_a.notified_at.is_(None)).group_by(_a.kind)

TITLES = {
    AlertKind.UNPLACED: "Stored messages that belong to no case",
    AlertKind.QUARANTINED: "Messages that could not be processed (quarantined)",
    AlertKind.HELD: "Mail the policy gate held",
    AlertKind.DELIVERY_FAILED: "Mail that could not be delivered",
    AlertKind.BOUNCED: "Mail that came back undelivered",
    AlertKind.OVERDUE: "Deadlines that passed",
    AlertKind.TOO_COMPLEX: "Messages too complex to read in time (recorded without their content)",
}
HOW = {
    AlertKind.UNPLACED: "See them with: mailflow inbound list --unplaced (each is kept as received).",
    AlertKind.QUARANTINED: "See them with: mailflow quarantine list; retry one with: mailflow quarantine retry ID.",
    AlertKind.HELD: "See them with: mailflow held list.",
    AlertKind.DELIVERY_FAILED: "See them with: mailflow outbox list --state failed.",
    AlertKind.BOUNCED: "See them with: mailflow outbox list --state bounced.",
    AlertKind.OVERDUE: "Each case's deadlines: mailflow cases show REF (or /cases by mail).",
    AlertKind.TOO_COMPLEX: "Each is kept as received, on its case without its content: mailflow cases show REF.",
}


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    kind: AlertKind
    case_id: int | None
    inbound_id: int | None
    outbound_id: int | None
    summary: str
    created_at: datetime


def raise_alert(
    conn: Connection,
    kind: AlertKind,
    summary: str,
    *,
    now: datetime,
    case_id: int | None = None,
    inbound_id: int | None = None,
    outbound_id: int | None = None,
) -> None:
    conn.execute(
        _INSERT,
        {
            "kind": kind,
            "summary": summary[:500],
            "case_id": case_id,
            "inbound_id": inbound_id,
            "outbound_id": outbound_id,
            "created_at": now,
        },
    )


def waiting(conn: Connection) -> list[Alert]:
    """The alerts not yet sent to the chairs, oldest first."""
    return [
        Alert(row.id, AlertKind(row.kind), row.case_id, row.inbound_id, row.outbound_id, row.summary, row.created_at)
        for row in conn.execute(_PENDING)
    ]


def waiting_counts(conn: Connection) -> dict[AlertKind, int]:
    """Alerts not yet sent to the chairs, by kind."""
    return {AlertKind(kind): int(count) for kind, count in conn.execute(_COUNTS)}
