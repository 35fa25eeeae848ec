"""The ``mailflow`` command: serve, ingest, check-config, and the operator's views.

Exit statuses follow sysexits(3) where an MTA or a script reads them (``ingest``: 0 accepted,
75 try again later, 65 unusable input, 67 not our address, 78 bad configuration).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from mailflow.cli import backup, committee, drafts, held, imap, imports, keys, records, status, templates, views
from mailflow.cli.context import CliContext
from mailflow.cli.output import configure_logging, console, fail
from mailflow.errors import ConfigError, MailflowError, TemporaryFailure

EX_OK, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL, EX_CONFIG = 0, 65, 67, 75, 78

CONFIG_FLAGS = ("--config", "-c")


def hoist_config(args: list[str]) -> list[str]:
    """``--config FILE`` (``-c FILE``, ``--config=FILE``, ``-cFILE``) wherever it is given, moved
    in front of the subcommand, where the root command reads it: ``mailflow serve --config FILE``
    is ``mailflow --config FILE serve``. No subcommand has an option of that name; arguments after
    ``--`` are left alone."""
    hoisted: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg in CONFIG_FLAGS and i + 1 < len(args):
            hoisted += [arg, args[i + 1]]
            i += 2
            continue
        if arg.startswith("--config=") or (arg.startswith("-c") and not arg.startswith("--") and len(arg) > 2):
            hoisted.append(arg)
        else:
            rest.append(arg)
        i += 1
    return hoisted + rest


class _ConfigAnywhere(TyperGroup):
    """The root command: takes ``--config`` before or after the subcommand (see ``hoist_config``)."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, hoist_config(list(args)))


app = typer.Typer(
    name="mailflow",
    cls=_ConfigAnywhere,
    help="An email-first workflow service for Code of Conduct committees.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
views.register(app)
imap.register(app)
imports.register(app)
backup.register(app)
records.register(app)
app.add_typer(committee.app, name="committee")
app.add_typer(drafts.app, name="drafts")
app.add_typer(templates.app, name="templates")
app.add_typer(held.app, name="held")
app.add_typer(keys.app, name="keys")
app.command("status")(status.status)
app.command("tick")(drafts.tick)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="TOML configuration file (default: $MAILFLOW_CONFIG, else built-in defaults); "
        "may also follow the subcommand",
    ),
]


@app.callback()
def _root(ctx: typer.Context, config: ConfigOption = None) -> None:
    ctx.obj = CliContext(config)


@app.command("check-config")
def check_config(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="file to check (default: --config / $MAILFLOW_CONFIG)")] = None,
) -> None:
    """Validate a configuration file; name every bad key and why."""
    from rich.markup import escape

    from mailflow.config import load_settings

    target = path or ctx.obj.config_path
    try:
        settings = load_settings(target)
    except ConfigError as exc:
        if exc.problems:
            for key, why in exc.problems:
                console.print(f"[red]{escape(key)}[/red]: {escape(why)}", highlight=False)
            raise typer.Exit(EX_CONFIG) from None
        fail(str(exc), EX_CONFIG)
    members = settings.committee.members
    chairs = sum(1 for m in members if m.role == "chair")
    console.print(
        f"ok: {target or 'built-in defaults'}: conduct address {settings.service.conduct_address}, "
        f"{len(members)} committee member(s), {chairs} chair(s)",
        highlight=False,
    )
    if not chairs:
        console.print("warning: no chair in [committee]; notices cannot be approved", highlight=False, markup=False)


@app.command()
def serve(ctx: typer.Context, verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    """Run the service: listeners, the embedded worker (by default) and the recovery sweep."""
    from mailflow.service import Service

    configure_logging(verbose)
    try:
        service = Service(ctx.obj.settings).start()
    except ConfigError as exc:
        fail(str(exc), EX_CONFIG)
    except (MailflowError, OSError) as exc:
        fail(f"cannot start: {exc}", EX_TEMPFAIL)
    exporter = None
    if ctx.obj.settings.metrics.listen:
        from mailflow import exporter as exporter_module

        try:
            exporter = exporter_module.serve(ctx.obj.settings, service.runtime.engine)
        except OSError as exc:
            service.stop()
            fail(f"cannot serve metrics on {ctx.obj.settings.metrics.listen}: {exc.strerror}", EX_TEMPFAIL)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    where = ", ".join(
        [f"{name} on port {port}" for name, port in (("SMTP", service.smtp_port), ("LMTP", service.lmtp_port)) if port]
        + ([f"metrics on {ctx.obj.settings.metrics.listen}"] if exporter is not None else [])
    )
    logging.getLogger("mailflow").info("mailflow is running (%s); stop with Ctrl-C", where or "no listener")
    stop.wait()
    if exporter is not None:
        exporter.shutdown()
    service.stop()


@app.command()
def ingest(
    ctx: typer.Context,
    file: Annotated[Path | None, typer.Argument(help="message file (default: standard input)")] = None,
    sender: Annotated[str | None, typer.Option("--sender", "-f", help="envelope sender (MTA's $SENDER)")] = None,
    recipient: Annotated[list[str] | None, typer.Option("--recipient", "-r", help="envelope recipient")] = None,
) -> None:
    """Take one message from a file or standard input, as an MTA pipe transport would deliver it."""
    from mailflow.handoff import deliver_from_pipe
    from mailflow.inbound.space import NoSpace

    try:
        raw = file.read_bytes() if file else sys.stdin.buffer.read()
    except OSError as exc:
        console.print(f"cannot read {file}: {exc.strerror}", highlight=False)
        raise typer.Exit(EX_DATAERR) from None
    try:
        code, message = deliver_from_pipe(ctx.obj.settings, raw, sender, tuple(recipient or ()))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        raise typer.Exit(EX_CONFIG) from None
    except TemporaryFailure as exc:
        # An RFC 3463 code first: Postfix's pipe(8) uses it in its log and any delay notice.
        status = "4.3.1" if isinstance(exc, NoSpace) else "4.3.0"
        print(f"{status} temporary failure: {exc}", file=sys.stderr)
        raise typer.Exit(EX_TEMPFAIL) from None
    print(message, file=sys.stderr if code else sys.stdout)
    raise typer.Exit(code)


@app.command(hidden=True)
def worker(share: Annotated[str, typer.Option(help="K/N: this process takes the ids equal to K modulo N")]) -> None:
    """An embedded worker process (started by `mailflow serve` with [queue] worker_processes)."""
    from mailflow.embedded import run_child

    configure_logging()
    index, _, count = share.partition("/")
    run_child(sys.stdin.buffer, (int(index), int(count)))


@app.command()
def init(ctx: typer.Context) -> None:
    """Create the data directory and bring the database schema up to date."""
    engine = ctx.obj.engine
    console.print(f"ok: database ready at {engine.url.render_as_string(hide_password=True)}", highlight=False)


def main() -> None:
    try:
        app()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        sys.exit(EX_CONFIG)
    except TemporaryFailure as exc:
        print(f"temporary failure: {exc}", file=sys.stderr)
        sys.exit(EX_TEMPFAIL)
    except MailflowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
