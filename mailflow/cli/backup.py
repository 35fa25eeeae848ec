"""``mailflow backup PATH`` and ``mailflow restore``: a copy of the database, and a database
brought back from one, checked (see :mod:`mailflow.backup`).

``backup --verify`` checks an SQLite backup file in place (every diary chain, every inbound
message's SHA-256) and lists the tables of a pg_dump archive; ``restore PATH`` writes a backup into
the configured, empty database and checks it; ``restore --check`` checks the configured database
as it is. Exit status 0; 1 when something does not verify or the backup/restore failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mailflow.cli.output import console, fail, to_json

if TYPE_CHECKING:
    from mailflow.backup import Check

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)


def backup_command(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="the backup file to write (replaced once the new one is complete)")],
    verify: Annotated[bool, typer.Option("--verify", help="then check the backup: diaries, messages, counts")] = False,
    as_json: JsonOption = False,
) -> None:
    """Back up the database: SQLite's online backup (safe while the service runs), or pg_dump."""
    from mailflow import backup

    try:
        made = backup.backup(ctx.obj.settings, path)
    except backup.BackupError as exc:
        fail(str(exc))
    result: dict[str, object] = {"backup": str(made.path), "kind": made.kind, "size": made.size}
    checked = None
    if verify:
        try:
            if made.kind == "sqlite":
                checked = backup.check_file(made.path)
                result["check"] = checked.as_dict()
            else:
                result["tables"] = backup.pg_archive_tables(made.path)
        except backup.BackupError as exc:
            fail(str(exc))
    if as_json:
        print(to_json(result))
    else:
        console.print(f"backup written: {made.path} ({made.kind}, {made.size} bytes)", highlight=False, markup=False)
        if checked is not None:
            _print(checked)
        elif "tables" in result:
            tables = result["tables"]
            assert isinstance(tables, list)
            console.print(
                f"archive readable: data of {len(tables)} tables; restore it to check the diaries and messages",
                highlight=False,
                markup=False,
            )
    if checked is not None and not checked.ok:
        raise typer.Exit(1)


def restore_command(
    ctx: typer.Context,
    path: Annotated[Path | None, typer.Argument(help="the backup file (mailflow backup PATH)")] = None,
    check: Annotated[bool, typer.Option("--check", help="only check the configured database, restore nothing")] = False,
    as_json: JsonOption = False,
) -> None:
    """Restore a backup into the configured database (it must be empty), then check it."""
    from mailflow import backup

    if path is None and not check:
        fail("name the backup file to restore (mailflow restore PATH), or --check the configured database", 2)
    try:
        if path is not None:
            kind = backup.restore(ctx.obj.settings, path)
            if not as_json:
                console.print(f"restored {path} ({kind})", highlight=False, markup=False)
        checked = backup.check(ctx.obj.engine)  # the engine brings the schema up to date first
    except backup.BackupError as exc:
        fail(str(exc))
    if as_json:
        print(to_json(checked.as_dict()))
    else:
        _print(checked)
    raise typer.Exit(0 if checked.ok else 1)


def _print(checked: Check) -> None:
    diaries = "every diary chain intact" if not checked.broken_diaries else (
        "BROKEN diary chain in case " + ", ".join(checked.broken_diaries))  # fmt: skip
    messages = "every one matches its SHA-256" if not checked.bad_messages else (
        "NOT matching their SHA-256: " + ", ".join(map(str, checked.bad_messages)))  # fmt: skip
    lines = [
        f"cases: {checked.cases} ({diaries})",
        f"diary entries: {checked.diary_entries}",
        f"inbound messages: {checked.inbound} ({messages})",
        f"outbound messages: {checked.outbound}",
        f"stored blobs: {checked.blobs}",
        "check: " + ("ok" if checked.ok else "FAILED"),
    ]
    for line in lines:
        console.print(line, highlight=False, markup=False)
