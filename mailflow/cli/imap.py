"""``mailflow imap poll``: read the committee's mailbox over IMAP from the command line.

``--once`` reads every configured folder until nothing new is left and exits (for cron, or to
try a configuration); without it the poller keeps running, as inside ``mailflow serve``, until
Ctrl-C. Exit statuses (sysexits): 0 done, 75 server unreachable or connection lost (try again),
77 login refused, 78 configuration (no [intake.imap], TLS not as configured, a missing folder).
"""

from __future__ import annotations

import signal
import threading
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from mailflow.cli.output import configure_logging, console, fail
from mailflow.errors import ConfigError, TemporaryFailure

if TYPE_CHECKING:
    from mailflow.config import ImapSettings, Settings

EX_TEMPFAIL, EX_NOPERM, EX_CONFIG = 75, 77, 78

imap_app = typer.Typer(
    help="The committee's existing mailbox, read over IMAP (section intake.imap).", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(imap_app, name="imap")


def settings_of(ctx: typer.Context) -> Settings:
    try:
        settings: Settings = ctx.obj.settings
    except ConfigError as exc:
        exit_with(str(exc), EX_CONFIG)
    return settings


def imap_settings(settings: Settings) -> ImapSettings:
    if settings.intake.imap is None:
        exit_with("no [intake.imap] section in the configuration (see config/mailflow.example.toml)", EX_CONFIG)
    return settings.intake.imap


def exit_with(message: str, code: int) -> NoReturn:
    fail(message, code)  # fail() escapes: messages name "[intake.imap]" and quote servers
    raise typer.Exit(code)  # fail() has raised it already; this tells the type checker


def fail_for(exc: Exception) -> NoReturn:
    """Exit with the status that says what went wrong (and the error's own message)."""
    from mailflow.inbound.imap_session import ImapFolderMissing, ImapLoginFailed, ImapTlsFailed

    if isinstance(exc, ImapLoginFailed):
        exit_with(str(exc), EX_NOPERM)
    if isinstance(exc, ImapTlsFailed | ImapFolderMissing | ConfigError):
        exit_with(str(exc), EX_CONFIG)
    if isinstance(exc, TemporaryFailure):
        exit_with(str(exc), EX_TEMPFAIL)
    exit_with(str(exc), 1)


@imap_app.command("poll")
def poll(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="one pass over every folder, then exit")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Fetch new mail from the configured folders (and keep doing so, without --once)."""
    from mailflow.inbound.imap import ImapPoller
    from mailflow.inbound.imap_session import ImapError
    from mailflow.inbound.spool import Spool
    from mailflow.runtime import Runtime

    configure_logging(verbose)
    settings = settings_of(ctx)
    imap = imap_settings(settings)
    try:
        runtime = Runtime.build(settings)
    except (ConfigError, TemporaryFailure) as exc:
        fail_for(exc)
    try:
        spool = Spool(runtime.engine, on_committed=runtime.hand_on)
        poller = ImapPoller(
            imap,
            spool,
            runtime.engine,
            max_message_size=int(settings.intake.max_message_size),
            hostname=settings.intake.hostname,
        )
        try:
            result = poller.poll_once()
        except (ImapError, TemporaryFailure) as exc:
            fail_for(exc)
        console.print(
            f"IMAP: {result.fetched} message(s) fetched, {result.new} new, {result.too_big} too big "
            f"(left on the server)",
            highlight=False,
            markup=False,
        )
        if once:
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        poller.start()
        stop.wait()
        poller.stop()
    finally:
        runtime.close()
