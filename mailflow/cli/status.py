"""``mailflow status``: what an operator or a chair checks first, in one screen (or ``--json``).

Messages waiting to be processed and the oldest of them, the outbox by state, quarantined
messages, held mail, alerts the chairs have not had yet (stored messages that belong to no case
among them), free space for intake, and the last IMAP poll. Exit status 0; 1 when something needs
a person (a quarantined message, held mail, an unplaced message, intake refusing for space).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from sqlalchemy import Select, func, select

from mailflow.cli.output import console, to_json
from mailflow.clock import utcnow
from mailflow.database import connection
from mailflow.inbound import space
from mailflow.model import AlertKind, HeldState, InboundState
from mailflow.model import core as t
from mailflow.outbound import alerts

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]

_i, _o = t.inbound.c, t.outbound.c
_WAITING: Select[int, datetime | None] = select(func.count(), func.min(_i.received_at)).where(
    _i.state == InboundState.RECEIVED
)
_QUARANTINED = select(func.count()).where(_i.state == InboundState.QUARANTINED)
_UNPLACED = select(func.count()).where(_i.state == InboundState.PROCESSED, _i.case_id.is_(None))
_OUTBOX: Select[str, int] = select(_o.state, func.count()).group_by(_o.state)
_HELD = select(func.count()).where(t.held_mail.c.state == HeldState.HELD)
_LAST_POLL = select(func.max(t.imap_watermark.c.updated_at))


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Queue, outbox, quarantine, held mail, alerts, disk space, IMAP: what needs a person."""
    settings = ctx.obj.settings
    room = space.check(settings)
    now = utcnow()
    with connection(ctx.obj.engine, read_only=True) as conn:
        waiting, oldest = conn.execute(_WAITING).one()
        report: dict[str, Any] = {
            "inbound_waiting": int(waiting or 0),
            "oldest_waiting_seconds": int((now - oldest).total_seconds()) if oldest else None,
            "quarantined": int(conn.execute(_QUARANTINED).scalar() or 0),
            "unplaced": int(conn.execute(_UNPLACED).scalar() or 0),
            "outbox": {str(state): int(count) for state, count in conn.execute(_OUTBOX).tuples()},
            "held": int(conn.execute(_HELD).scalar() or 0),
            "alerts_waiting": {kind.value: count for kind, count in alerts.waiting_counts(conn).items()},
            "intake_space": {"ok": room.ok, "reason": room.reason, "free": room.free, "required": room.required},
            "last_imap_poll": _iso(conn.execute(_LAST_POLL).scalar()),
        }
    attention = (
        report["quarantined"] or report["held"] or report["unplaced"] or not room.ok
        or report["alerts_waiting"].get(AlertKind.UNPLACED.value)
    )  # fmt: skip
    if as_json:
        print(to_json(report))
    else:
        _print(report)
    raise typer.Exit(1 if attention else 0)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def _print(report: dict[str, Any]) -> None:
    oldest = report["oldest_waiting_seconds"]
    room = report["intake_space"]
    rows = [
        ("inbound waiting", str(report["inbound_waiting"]) + (f" (oldest {oldest} s)" if oldest is not None else "")),
        ("quarantined", _with(report["quarantined"], "mailflow quarantine list")),
        ("unplaced", _with(report["unplaced"], "stored, belonging to no case: the chairs are told")),
        ("outbox", ", ".join(f"{k} {v}" for k, v in sorted(report["outbox"].items())) or "empty"),
        ("held by the gate", _with(report["held"], "mailflow held list")),
        ("alerts waiting", ", ".join(f"{k} {v}" for k, v in report["alerts_waiting"].items()) or "none"),
        ("intake space", f"{'ok' if room['ok'] else 'REFUSING'}: {room['reason']}"),
        ("last IMAP poll", report["last_imap_poll"] or "never"),
    ]
    for label, value in rows:
        console.print(f"{label + ':':<19}{value}", highlight=False, markup=False)


def _with(count: int, hint: str) -> str:
    return f"{count}  <- {hint}" if count else str(count)
