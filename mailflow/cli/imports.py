"""``mailflow import mbox|maildir|imap``: a mailbox's history, in as cases and diaries.

Messages are taken oldest first (Date header; else the source's own date), threaded by the same
rules as live mail, and never acknowledged or fanned out. Importing again adds nothing. A
progress bar on standard error (``--quiet`` for scripts), a summary on standard output.
Exit statuses: 0 done, 66 no such file or Maildir, 75/77/78 as for ``mailflow imap poll``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from mailflow.cli.imap import exit_with, fail_for, imap_settings, settings_of
from mailflow.cli.output import console, errors
from mailflow.errors import ConfigError, TemporaryFailure

if TYPE_CHECKING:
    from mailflow.imports.run import ImportStart, ImportSummary
    from mailflow.imports.source import Source
    from mailflow.runtime import Runtime

EX_NOINPUT = 66
EX_USAGE = 64

import_app = typer.Typer(
    help="Bring a mailbox's existing mail in as cases (no acknowledgements are sent).", no_args_is_help=True
)

QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar (for scripts)")]
StateOption = Annotated[
    str,
    typer.Option(
        "--state",
        help="the state the imported cases start in: new, open, investigating or closed (history that is done)",
    ),
]
DeadlinesOption = Annotated[
    bool,
    typer.Option(
        "--deadlines/--no-deadlines",
        help="plan the manuals' deadlines for the imported open cases, counted from now (never from the"
        " messages' dates: what happened before the import is not late)",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(import_app, name="import")


@import_app.command("mbox")
def import_mbox(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="the mbox file")],
    quiet: QuietOption = False,
    state: StateOption = "new",
    deadlines: DeadlinesOption = False,
) -> None:
    """Import every message of an mbox file."""
    from mailflow.imports.files import MboxSource

    source = _open(lambda: MboxSource(file))
    try:
        _run_with_runtime(ctx, source, quiet, _start(state, deadlines))
    finally:
        source.close()


@import_app.command("maildir")
def import_maildir(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="the Maildir (with cur/ and new/)")],
    quiet: QuietOption = False,
    state: StateOption = "new",
    deadlines: DeadlinesOption = False,
) -> None:
    """Import every message of a Maildir folder (not its subfolders: name each one)."""
    from mailflow.imports.files import MaildirSource

    source = _open(lambda: MaildirSource(directory))
    try:
        _run_with_runtime(ctx, source, quiet, _start(state, deadlines))
    finally:
        source.close()


@import_app.command("imap")
def import_imap(
    ctx: typer.Context,
    folder: Annotated[str, typer.Option("--folder", "-f", help="the folder of the [intake.imap] account")],
    quiet: QuietOption = False,
    state: StateOption = "new",
    deadlines: DeadlinesOption = False,
) -> None:
    """Import the messages of an IMAP folder (opened read-only: nothing changes on the server)."""
    from mailflow.imports.imap import ImapFolderSource
    from mailflow.inbound.imap_session import ImapError

    imap = imap_settings(settings_of(ctx))
    start = _start(state, deadlines)
    runtime = _runtime(ctx)
    try:
        with ImapFolderSource(imap, folder, runtime.engine) as source:
            summary = _run(runtime, source, quiet, start)
    except (ImapError, TemporaryFailure) as exc:
        fail_for(exc)
    finally:
        runtime.close()
    _print_summary(summary)
    if source.left_for_live:
        console.print(
            f"{source.left_for_live} newer message(s) in {folder!r} left for the live IMAP intake",
            highlight=False,
            markup=False,
        )


# -- shared ------------------------------------------------------------------------------------

S = TypeVar("S")


def _open(make: Callable[[], S]) -> S:
    from mailflow.imports.source import ImportSourceError

    try:
        return make()
    except ImportSourceError as exc:
        exit_with(str(exc), EX_NOINPUT)


def _runtime(ctx: typer.Context) -> Runtime:
    from mailflow.runtime import Runtime

    try:
        return Runtime.build(settings_of(ctx))
    except (ConfigError, TemporaryFailure) as exc:
        fail_for(exc)


def _start(state: str, deadlines: bool) -> ImportStart:
    from mailflow.imports.run import ImportStart
    from mailflow.model import CaseState

    allowed = (CaseState.NEW, CaseState.OPEN, CaseState.INVESTIGATING, CaseState.CLOSED)
    try:
        chosen = CaseState(state.strip().lower())
    except ValueError:
        chosen = None
    if chosen not in allowed:
        exit_with(f"--state is one of: {', '.join(s.value for s in allowed)} (not {state!r})", EX_USAGE)
    return ImportStart(chosen, deadlines and chosen is not CaseState.CLOSED)


def _run_with_runtime(ctx: typer.Context, source: Source, quiet: bool, start: ImportStart) -> None:
    runtime = _runtime(ctx)
    try:
        summary = _run(runtime, source, quiet, start)
    except TemporaryFailure as exc:
        fail_for(exc)
    finally:
        runtime.close()
    _print_summary(summary)


def _run(runtime: Runtime, source: Source, quiet: bool, start: ImportStart) -> ImportSummary:
    from mailflow.imports.run import NoProgress, import_history
    from mailflow.imports.source import ImportSourceError

    try:
        return import_history(runtime, source, progress=NoProgress() if quiet else Bar(), start=start)
    except ImportSourceError as exc:
        exit_with(str(exc), EX_NOINPUT)


def _print_summary(summary: ImportSummary) -> None:
    rows = [
        ("messages read", summary.read),
        ("new", summary.new),
        ("already present", summary.already_present),
        ("copies of recorded mail (same Message-ID)", summary.duplicates),
        ("cases opened", summary.cases_opened),
        ("quarantined", summary.quarantined),
        ("too big, not imported", summary.too_big),
    ]
    console.print(
        f"Imported {summary.source} in {summary.seconds:.1f}s ({summary.rate:.0f} messages/s):",
        highlight=False,
        markup=False,
    )
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        console.print(f"  {label:<{width}}  {value:>7}", highlight=False, markup=False)


# -- progress ---------------------------------------------------------------------------------


class _Rate(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed or (task.completed / task.elapsed if task.elapsed else None)
        return Text(f"{speed:.0f} msg/s" if speed else "- msg/s")


class Bar:
    """Messages done of all, rate, time left: on standard error, so that the summary stays clean."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            _Rate(),
            TextColumn("elapsed"),
            TimeElapsedColumn(),
            TextColumn("left"),
            TimeRemainingColumn(),
            console=errors,
        )
        self._task = self._progress.add_task("import", total=None)

    def begin(self, total: int) -> None:
        self._progress.update(self._task, total=total)
        self._progress.start()

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)

    def end(self) -> None:
        self._progress.stop()
