"""The operator's views: cases, outbox, quarantine (tables, or ``--json`` for scripts).

The lists page (``mailflow.cli.lists``); what a command needs beyond that is imported inside it.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from mailflow.cli import lists
from mailflow.cli.lists import AllOption, JsonOption, LimitOption, SinceOption
from mailflow.cli.output import console, fail, to_json
from mailflow.errors import NotFound

cases_app = typer.Typer(help="Cases and their diaries.", no_args_is_help=True)
outbox_app = typer.Typer(help="Outgoing mail and its delivery state.", no_args_is_help=True)
quarantine_app = typer.Typer(help="Messages that could not be processed (kept raw).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(cases_app, name="cases")
    app.add_typer(outbox_app, name="outbox")
    app.add_typer(quarantine_app, name="quarantine")


@cases_app.command("list")
def cases_list(
    ctx: typer.Context,
    limit: LimitOption = lists.DEFAULT_LIMIT,
    every: AllOption = False,
    state: Annotated[
        str | None, typer.Option("--state", help=f"only this state: {', '.join(lists.CASE_STATES)}")
    ] = None,
    since: SinceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Cases, newest first, a page at a time (says when more exist)."""
    page = lists.paging(limit, every, since, state, lists.CASE_STATES)
    columns = ["ref", "state", "created_at", "entries", "related_to", "subject"]
    lists.show(ctx, lists.cases, page, columns, as_json=as_json, title="Cases", noun="cases")


@cases_app.command("show")
def cases_show(ctx: typer.Context, ref: str, as_json: JsonOption = False) -> None:
    """A case with its parties, addresses and diary."""
    from mailflow.case.views import header_lines, show_case
    from mailflow.database import transaction
    from mailflow.parse.addresses import ConductAddress

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
    limit: LimitOption = lists.DEFAULT_LIMIT,
    every: AllOption = False,
    state: Annotated[
        str | None, typer.Option("--state", help=f"only this state: {', '.join(lists.OUTBOX_STATES)}")
    ] = None,
    since: SinceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Outgoing mail, newest first, a page at a time (says when more exist)."""
    page = lists.paging(limit, every, since, state, lists.OUTBOX_STATES)
    columns = ["id", "case", "kind", "state", "attempts", "recipients", "subject", "message_id", "reason"]
    lists.show(ctx, lists.outbox, page, columns, as_json=as_json, title="Outbox", noun="outgoing mails")


@quarantine_app.command("list")
def quarantine_list(
    ctx: typer.Context,
    limit: LimitOption = lists.DEFAULT_LIMIT,
    every: AllOption = False,
    since: SinceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Quarantined messages with the reason, newest first (says when more exist)."""
    page = lists.paging(limit, every, since)
    columns = ["id", "received_at", "source", "size", "reason"]
    lists.show(ctx, lists.quarantine, page, columns, as_json=as_json, title="Quarantine", noun="quarantined messages")


@quarantine_app.command("show")
def quarantine_show(ctx: typer.Context, inbound_id: int) -> None:
    """Write a quarantined message's raw bytes to standard output."""
    from mailflow.database import transaction
    from mailflow.inbound import quarantine as quarantined

    try:
        with transaction(ctx.obj.engine, read_only=True) as session:
            raw = quarantined.raw_of(session, inbound_id)
    except NotFound as exc:
        fail(str(exc))
    sys.stdout.buffer.write(raw)


@quarantine_app.command("retry")
def quarantine_retry(ctx: typer.Context, inbound_id: int) -> None:
    """Process a quarantined message again (for example after an upgrade that fixes its cause)."""
    from mailflow.database import transaction
    from mailflow.inbound import quarantine as quarantined

    try:
        with transaction(ctx.obj.engine, durable=True) as session:
            quarantined.release(session, inbound_id)
    except NotFound as exc:
        fail(str(exc))
    console.print(f"message {inbound_id} is back in line; the running service processes it at its next sweep")
