"""The operator's views: cases, outbox, quarantine (tables, or ``--json`` for scripts)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mailflow.case.views import header_lines, list_cases, show_case
from mailflow.cli.output import console, emit_rows, fail, to_json
from mailflow.database import transaction
from mailflow.errors import NotFound
from mailflow.inbound import quarantine as quarantined
from mailflow.model import OutboundState
from mailflow.outbound.outbox import list_outbox
from mailflow.parse.addresses import ConductAddress

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]

cases_app = typer.Typer(help="Cases and their diaries.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing mail and its delivery state.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Messages that could not be processed (kept raw).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(quarantine_app, name="quarantine")


@cases_app.command("list")
def cases_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Every case, newest first."""
    with transaction(ctx.obj.engine, read_only=True) as session:
        rows = [c.as_dict() for c in list_cases(session)]
    emit_rows(
        rows,
        ["ref", "state", "created_at", "entries", "related_to", "subject"],
        as_json=as_json,
        title="Cases",
    )


@cases_app.command("show")
def cases_show(ctx: typer.Context, ref: str, as_json: JsonOption = False) -> None:
    """A case with its parties, addresses and diary."""
    conduct = ConductAddress.parse(ctx.obj.settings.service.conduct_address)
    try:
        with transaction(ctx.obj.engine, read_only=True) as session:
            detail = show_case(session, ref, conduct)
    except NotFound as exc:
        fail(str(exc))
    if as_json:
        print(to_json(detail.as_dict()))
        return
    for text in header_lines(detail):
        console.print(text, highlight=False, markup=False)
    for line in detail.diary:
        flag = " UNVERIFIED" if line.unverified else ""
        console.rule(f"#{line.seq} {line.kind}{flag} {line.at:%Y-%m-%d %H:%M:%S}", align="left")
        for label, value in (
            ("from", line.from_addr),
            ("to", ", ".join(line.to)),
            ("subject", line.subject),
            ("message-id", line.message_id),
        ):
            if value:
                console.print(f"{label}: {value}", highlight=False, markup=False)
        if line.detail:
            console.print(f"detail: {to_json(line.detail)}", highlight=False, markup=False)
        if line.new_text:
            console.print(line.new_text, highlight=False, markup=False)


@outbox_app.command("list")
def outbox_list(
    ctx: typer.Context,
    state: Annotated[OutboundState | None, typer.Option(help="only this state")] = None,
    as_json: JsonOption = False,
) -> None:
    """Outgoing mail, newest first."""
    with transaction(ctx.obj.engine, read_only=True) as session:
        rows = [o.as_dict() for o in list_outbox(session, state=state)]
    columns = ["id", "case", "kind", "state", "attempts", "recipients", "subject", "message_id", "reason"]
    emit_rows(rows, columns, as_json=as_json, title="Outbox")


@quarantine_app.command("list")
def quarantine_list(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Quarantined messages with the reason."""
    with transaction(ctx.obj.engine, read_only=True) as session:
        rows = [q.as_dict() for q in quarantined.list_quarantined(session)]
    columns = ["id", "received_at", "source", "size", "reason"]
    emit_rows(rows, columns, as_json=as_json, title="Quarantine")


@quarantine_app.command("show")
def quarantine_show(ctx: typer.Context, inbound_id: int) -> None:
    """Write a quarantined message's raw bytes to standard output."""
    try:
        with transaction(ctx.obj.engine, read_only=True) as session:
            raw = quarantined.raw_of(session, inbound_id)
    except NotFound as exc:
        fail(str(exc))
    sys.stdout.buffer.write(raw)


@quarantine_app.command("retry")
def quarantine_retry(ctx: typer.Context, inbound_id: int) -> None:
    """Process a quarantined message again (for example after an upgrade that fixes its cause)."""
    try:
        with transaction(ctx.obj.engine, durable=True) as session:
            quarantined.release(session, inbound_id)
    except NotFound as exc:
        fail(str(exc))
    console.print(f"message {inbound_id} is back in line; the running service processes it at its next sweep")
