"""``mailflow committee ...``: the roster's side of the command line.

``hash-password`` prints the scrypt hash to put in a member's ``password_hash`` for the submission
listener. The password is read twice from the terminal (not echoed), or once from standard input
when that is not a terminal (``printf '%s\\n' "$PW" | mailflow committee hash-password``).
"""

from __future__ import annotations

import sys
from getpass import getpass
from typing import Annotated

import typer

from mailflow.cli.output import emit_rows, fail

app = typer.Typer(help="The committee roster: members, chairs, submission passwords.", no_args_is_help=True)


@app.callback()
def _committee() -> None:
    """The committee roster: members, chairs, submission passwords."""


def _stdin_is_terminal() -> bool:
    return sys.stdin.isatty()


@app.command("list")
def list_members(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False
) -> None:
    """The roster: each member's name, role, addresses, and whether a submission password is set."""
    from mailflow.auth.roster import Roster

    roster = Roster.from_settings(ctx.obj.settings)
    rows = [
        {
            "name": m.name,
            "role": m.role,
            "addresses": ", ".join(m.addresses),
            "aliases": ", ".join(m.aliases),
            "submission_password": m.password_hash is not None,
        }
        for m in roster.members
    ]
    emit_rows(rows, ["name", "role", "addresses", "aliases", "submission_password"], as_json=as_json, title="Committee")


@app.command("hash-password")
def hash_password_command() -> None:
    """Print an scrypt hash of a submission password, for a member's password_hash in the configuration."""
    from mailflow.auth.passwords import hash_password

    if _stdin_is_terminal():
        password = getpass("Password: ")
        if getpass("Password again: ") != password:
            fail("the two passwords differ; nothing printed")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        fail("empty password; nothing printed")
    print(hash_password(password))
