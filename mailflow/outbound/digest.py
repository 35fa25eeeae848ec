"""The chairs' digest of alerts: at most one mail per kind in ``[notices] digest_hours``.

Alerts are rows the moment something happens (``mailflow.outbound.alerts``); this sends them,
named and counted, never with a body or a reporter's address in them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, bindparam, func, select

from mailflow.auth import RosterMember
from mailflow.model import AlertKind, OutboundKind
from mailflow.model import core as t
from mailflow.outbound import alerts, outbox
from mailflow.outbound.alerts import HOW, TITLES, Alert
from mailflow.outbound.compose import Draft
from mailflow.parse.message import Address

_a = t.alert.c
_LAST_DIGEST = select(func.max(_a.notified_at)).where(_a.kind == bindparam("kind"))
_MARK = t.alert.update().where(_a.id.in_(bindparam("ids", expanding=True))).values(notified_at=bindparam("now"))
_REFS: Select[int, str] = select(t.cases.c.id, t.cases.c.ref).where(t.cases.c.id.in_(bindparam("ids", expanding=True)))


def send(
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
    for alert in alerts.waiting(conn):
        waiting.setdefault(alert.kind, []).append(alert)
    refs = _refs(conn, [a.case_id for items in waiting.values() for a in items if a.case_id is not None])
    drafted: list[int] = []
    for kind, items in waiting.items():
        last = conn.execute(_LAST_DIGEST, {"kind": kind}).scalar()
        if last is not None and now - last < every:
            continue
        lines = [f"{TITLES[kind]}: {len(items)}", ""]
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
        lines += ["", HOW[kind]]
        mail = outbox.draft(
            conn,
            Draft(
                from_name=committee_name,
                from_addr=conduct_address,
                to=tuple(Address(c.name, c.addresses[0]) for c in chairs),
                subject=f"[{committee_name}] {TITLES[kind]} ({len(items)})",
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
