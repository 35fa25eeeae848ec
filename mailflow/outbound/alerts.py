"""Alerts: what the chairs must hear of that has no case mail of its own to tell them.

A message stored that belongs to no case, a message that could not be processed (quarantined), a
mail that came back or could not be delivered: each is an alert row the moment it happens (so
``mailflow status`` counts it at once), and the chairs get them in a digest, at most one mail per
kind in ``[notices] digest_hours`` (a day by default). Summaries name what happened, never a
body or a reporter's address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, bindparam, func, select

from mailflow.auth import RosterMember
from mailflow.model import AlertKind, OutboundKind
from mailflow.model import core as t
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft
from mailflow.parse.message import Address

_a = t.alert.c
_INSERT = t.alert.insert()
_PENDING = (
    select(_a.id, _a.kind, _a.case_id, _a.inbound_id, _a.outbound_id, _a.summary, _a.created_at)
    .where(_a.notified_at.is_(None))
    .order_by(_a.id)
)
_LAST_DIGEST = select(func.max(_a.notified_at)).where(_a.kind == bindparam("kind"))
_MARK = t.alert.update().where(_a.id.in_(bindparam("ids", expanding=True))).values(notified_at=bindparam("now"))
_COUNTS: Select[str, int] = select(_a.kind, func.count()).where(_a.notified_at.is_(None)).group_by(_a.kind)
_REFS: Select[int, str] = select(t.cases.c.id, t.cases.c.ref).where(t.cases.c.id.in_(bindparam("ids", expanding=True)))

_TITLES = {
    AlertKind.UNPLACED: "Stored messages that belong to no case",
    AlertKind.QUARANTINED: "Messages that could not be processed (quarantined)",
    AlertKind.HELD: "Mail the policy gate held",
    AlertKind.DELIVERY_FAILED: "Mail that could not be delivered",
    AlertKind.BOUNCED: "Mail that came back undelivered",
    AlertKind.OVERDUE: "Deadlines that passed",
    AlertKind.TOO_COMPLEX: "Messages too complex to read in time (recorded without their content)",
}
_HOW = {
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


def waiting_counts(conn: Connection) -> dict[AlertKind, int]:
    """Alerts not yet sent to the chairs, by kind."""
    return {AlertKind(kind): int(count) for kind, count in conn.execute(_COUNTS)}


def digest(
    conn: Connection,
    chairs: Sequence[RosterMember],
    *,
    committee_name: str,
    conduct_address: str,
    now: datetime,
    every: timedelta,
) -> list[int]:
    """One mail per kind with alerts waiting, unless one of that kind went out less than ``every`` ago.
    Returns the ids of the drafted mails (none when there are no chairs: the alerts keep waiting)."""
    if not chairs:
        return []
    waiting: dict[AlertKind, list[Alert]] = {}
    for row in conn.execute(_PENDING):
        alert = Alert(
            row.id, AlertKind(row.kind), row.case_id, row.inbound_id, row.outbound_id, row.summary, row.created_at
        )
        waiting.setdefault(alert.kind, []).append(alert)
    refs = _refs(conn, [a.case_id for items in waiting.values() for a in items if a.case_id is not None])
    drafted: list[int] = []
    for kind, items in waiting.items():
        last = conn.execute(_LAST_DIGEST, {"kind": kind}).scalar()
        if last is not None and now - last < every:
            continue
        lines = [f"{_TITLES[kind]}: {len(items)}", ""]
        for alert in items[:200]:
            where = f"case {refs[alert.case_id]}" if alert.case_id in refs else "no case"
            ids = ", ".join(
                f"{name} {value}"
                for name, value in (("inbound", alert.inbound_id), ("outbound", alert.outbound_id))
                if value is not None
            )
            lines.append(
                f"- {alert.created_at:%Y-%m-%d %H:%M} UTC, {where}: {alert.summary}" + (f" ({ids})" if ids else "")
            )
        if len(items) > 200:
            lines.append(f"... and {len(items) - 200} more")
        lines += ["", _HOW[kind]]
        mail = outbox.draft(
            conn,
            Draft(
                from_name=committee_name,
                from_addr=conduct_address,
                to=tuple(Address(c.name, c.addresses[0]) for c in chairs),
                subject=f"[{committee_name}] {_TITLES[kind]} ({len(items)})",
                text="\n".join(lines) + "\n",
                auto_submitted="auto-generated",
            ),
            kind=OutboundKind.SYSTEM,
            now=now,
        )
        drafted.append(mail.id)
        conn.execute(_MARK, {"ids": [a.id for a in items], "now": now})
    return drafted


def _refs(conn: Connection, case_ids: list[int]) -> dict[int, str]:
    if not case_ids:
        return {}
    return {case_id: ref for case_id, ref in conn.execute(_REFS, {"ids": sorted(set(case_ids))})}
