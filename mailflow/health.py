"""The service's figures, read from the database: what ``mailflow status`` prints and what the
Prometheus endpoint (``mailflow.metrics``) serves, computed the same way by both.

Each figure is one indexed query (inbound by state, outbox by state, held mail by state, alerts
not yet sent); nothing reads a message's bytes, a body or an address.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, Select, String, bindparam, column, func, select, table

from mailflow.clock import utcnow
from mailflow.columns import UTCDateTime

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

    from mailflow.config import Settings

_inbound = table(
    "inbound_message",
    column("state", String),
    column("received_at", UTCDateTime),
    column("case_id", Integer),
)
_outbound = table("outbound_message", column("state", String))
_held = table("held_mail", column("state", String))
_alerts = table("alert", column("kind", String), column("notified_at", UTCDateTime))
_watermark = table("imap_watermark", column("updated_at", UTCDateTime))
_deadline = table(
    "deadline", column("due_at", UTCDateTime), column("fired_at", UTCDateTime), column("done_at", UTCDateTime)
)

_i = _inbound.c
_WAITING: Select[int, datetime | None] = select(func.count(), func.min(_i.received_at)).where(_i.state == "received")
_QUARANTINED: Select[Any] = select(func.count()).where(_i.state == "quarantined")
_UNPLACED: Select[Any] = select(func.count()).where(_i.state == "processed", _i.case_id.is_(None))
_OUTBOX: Select[Any] = select(_outbound.c.state, func.count()).group_by(_outbound.c.state)
_HELD: Select[Any] = select(func.count()).where(_held.c.state == "held")
_ALERTS: Select[Any] = (
    select(_alerts.c.kind, func.count()).where(_alerts.c.notified_at.is_(None)).group_by(_alerts.c.kind)
)
_LAST_POLL: Select[Any] = select(func.max(_watermark.c.updated_at))
_d = _deadline.c
_UNCHECKED: Select[int, datetime | None] = select(func.count(), func.min(_d.due_at)).where(
    _d.fired_at.is_(None), _d.done_at.is_(None), _d.due_at <= bindparam("now")
)
_FIRED: Select[Any] = select(func.count()).where(_d.fired_at >= bindparam("since"))

DEADLINE_LAG = timedelta(minutes=15)
"""A deadline due this long and not yet checked: the scheduler (``mailflow serve``'s check, or a
cron ``mailflow tick``) is not running."""

UNPLACED_ALERT = "unplaced"


def figures(settings: Settings, engine: Engine, now: datetime | None = None) -> dict[str, Any]:
    """Queue, quarantine, outbox, held mail, alerts waiting, intake space and the last IMAP poll."""
    from mailflow.database import connection
    from mailflow.inbound import space

    room = space.check(settings)
    now = now or utcnow()
    with connection(engine, read_only=True) as conn:
        report = _from(conn, now)
    report["intake_space"] = {"ok": room.ok, "reason": room.reason, "free": room.free, "required": room.required}
    return report


def _from(conn: Connection, now: datetime) -> dict[str, Any]:
    waiting, oldest = conn.execute(_WAITING).one()
    return {
        "inbound_waiting": int(waiting or 0),
        "oldest_waiting_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "quarantined": int(conn.execute(_QUARANTINED).scalar() or 0),
        "unplaced": int(conn.execute(_UNPLACED).scalar() or 0),
        "outbox": {str(row[0]): int(row[1]) for row in conn.execute(_OUTBOX).all()},
        "held": int(conn.execute(_HELD).scalar() or 0),
        "alerts_waiting": {str(row[0]): int(row[1]) for row in conn.execute(_ALERTS).all()},
        "last_imap_poll": _iso(conn.execute(_LAST_POLL).scalar()),
        **_deadlines(conn, now),
    }


def _deadlines(conn: Connection, now: datetime) -> dict[str, Any]:
    """Deadlines past their date that no check has fired yet (the oldest's lag), and those fired
    in the last week (each also an alert for the chairs' digest)."""
    due, oldest = conn.execute(_UNCHECKED, {"now": now}).one()
    return {
        "deadlines_due_unchecked": int(due or 0),
        "deadlines_oldest_unchecked_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "deadlines_fired_7d": int(conn.execute(_FIRED, {"since": now - timedelta(days=7)}).scalar() or 0),
    }


def needs_a_person(report: dict[str, Any]) -> bool:
    """Something only a person can settle: quarantine, held mail, unplaced mail, intake refusing,
    deadlines nobody checks."""
    return bool(
        report["quarantined"]
        or report["held"]
        or report["unplaced"]
        or not report["intake_space"]["ok"]
        or report["alerts_waiting"].get(UNPLACED_ALERT)
        or (report.get("deadlines_oldest_unchecked_seconds") or 0) > DEADLINE_LAG.total_seconds()
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None
