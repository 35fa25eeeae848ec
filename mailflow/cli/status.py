"""``mailflow status``: what an operator or a chair checks first, in one screen (or ``--json``).

Messages waiting to be processed and the oldest of them, the outbox by state, quarantined
messages, held mail, alerts the chairs have not had yet (stored messages that belong to no case
among them), free space for intake, and the last IMAP poll. Exit status 0; 1 when something needs
a person (a quarantined message, held mail, an unplaced message, intake refusing for space).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mailflow.cli.output import console, to_json

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Queue, outbox, quarantine, held mail, alerts, disk space, IMAP: what needs a person."""
    from mailflow import health

    report = health.figures(ctx.obj.settings, ctx.obj.engine)
    if as_json:
        print(to_json(report))
    else:
        _print(report)
    raise typer.Exit(1 if health.needs_a_person(report) else 0)


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
        ("deadlines", _deadlines(report)),
        ("intake space", f"{'ok' if room['ok'] else 'REFUSING'}: {room['reason']}"),
        ("last IMAP poll", report["last_imap_poll"] or "never"),
    ]
    for label, value in rows:
        console.print(f"{label + ':':<19}{value}", highlight=False, markup=False)


def _deadlines(report: dict[str, Any]) -> str:
    lag = report.get("deadlines_oldest_unchecked_seconds")
    said = f"{report.get('deadlines_fired_7d', 0)} passed in the last 7 days (each an alert for the chairs)"
    if report.get("deadlines_due_unchecked"):
        said += (
            f"; {report['deadlines_due_unchecked']} due and not yet checked (oldest {lag} s)"
            "  <- is the scheduler running? mailflow serve checks them; or run mailflow tick"
        )
    return said


def _with(count: int, hint: str) -> str:
    return f"{count}  <- {hint}" if count else str(count)
