"""``mailflow keys``: encryption at rest ([storage], mailflow.crypt).

``new`` prints a fresh key. ``status`` says which keys are configured, which the database was
written with, and how many values each key seals (and how many are still plaintext). ``rotate``
seals every value with the first configured key: after a new key was put first, or after
encryption was turned on for a database that already holds data (its plaintext rows are sealed).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mailflow.cli.output import console, to_json

app = typer.Typer(help="Encryption at rest: make a key, see what each key seals, rotate.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@app.command("new")
def new() -> None:
    """Print a fresh random key (32 bytes, URL-safe base64): for MAILFLOW_ENCRYPTION_KEY or a line of
    [storage] encryption_key_file. Keep a copy where the database's backups are not."""
    from mailflow.crypt.keyring import new_key

    print(new_key())


@app.command("status")
def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The configured keys, the keys the database was written with, and what each key seals."""
    from mailflow import rekey as rotation
    from mailflow.crypt.check import recorded
    from mailflow.crypt.sealed import keyring_of
    from mailflow.database import connection

    engine = ctx.obj.engine
    ring = keyring_of(engine.dialect)
    with connection(engine, read_only=True) as conn:
        written = list(recorded(conn))
    found = rotation.census(engine)
    report: dict[str, Any] = {
        "encryption": ring is not None,
        "configured_keys": list(ring.ids) if ring else [],
        "encrypting_key": ring.primary if ring else None,
        "database_keys": written,
        "values": dict(found.keys()),
        "columns": {where: dict(counter) for where, counter in sorted(found.counts.items())},
    }
    if as_json:
        print(to_json(report))
        return
    if ring is None:
        console.print("encryption at rest: off (no key configured)", highlight=False)
    else:
        console.print(f"encryption at rest: on; encrypting with key {ring.primary}", highlight=False)
        console.print(f"configured keys: {', '.join(ring.ids)}", highlight=False)
    console.print(f"keys this database was written with: {', '.join(written) or '(none)'}", highlight=False)
    values = ", ".join(f"{count} {state}" for state, count in sorted(report["values"].items()))
    console.print(f"values: {values or '(none)'}", highlight=False)
    plaintext = report["values"].get(rotation.PLAINTEXT, 0)
    others = [k for k in report["values"] if ring and k not in (ring.primary, rotation.PLAINTEXT)]
    if ring and (plaintext or others):
        console.print("run `mailflow keys rotate` to seal them all with the encrypting key", highlight=False)


@app.command("rotate")
def rotate(
    ctx: typer.Context,
    batch: Annotated[int, typer.Option(min=1, max=100_000, help="rows per transaction (rekey.BATCH)")] = 500,
    compact: Annotated[
        bool, typer.Option("--compact/--no-compact", help="SQLite: rewrite the file and truncate the WAL afterwards")
    ] = True,
) -> None:
    """Seal every value with the first configured key: values of the other keys and plaintext
    written before encryption was on. Safe to interrupt and run again. Stop `mailflow serve` or
    restart it with the new key first."""
    from mailflow import rekey as rotation

    engine = ctx.obj.engine

    def say(line: str) -> None:
        console.print(line, highlight=False, markup=False)

    done = rotation.rotate(engine, batch=batch, compact=compact, progress=say)
    moved, sealed = sum(done.resealed.values()), sum(done.sealed.values())
    say(f"key {done.key_id}: {moved} value(s) moved from other keys, {sealed} plaintext value(s) sealed")
    if done.retired:
        retired = ", ".join(done.retired)
        say(f"no value is sealed with key(s) {retired} any longer: they may be removed from the configuration")
    left = {k: v for k, v in rotation.census(engine).keys().items() if k != done.key_id}
    if left:
        say(f"still not under key {done.key_id}: {left} (written meanwhile?): run it again")
        raise typer.Exit(1)
    if done.compacted and engine.dialect.name == "sqlite":
        say("the SQLite file was rewritten and its write-ahead log truncated")
    elif done.compacted:
        say("the tables were vacuumed; VACUUM FULL rewrites their files (old row versions' bytes); backups keep theirs")
