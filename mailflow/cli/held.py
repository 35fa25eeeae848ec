"""``mailflow held ...``: outgoing mail the policy gate held, and a chair's release of one.

From a shell, the operator acts for a named chair (``--as``): the same rules apply as by mail (a
chair, not excluded from the case, each held mail released once, with a reason), and the diary
names that chair and the reason.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mailflow.case import standing
from mailflow.cli.output import console, emit_rows, fail
from mailflow.clock import utcnow
from mailflow.database import connection, lock_for_threading
from mailflow.outbound import held
from mailflow.runtime import Runtime

app = typer.Typer(help="Mail the policy gate held, waiting for a fix or a chair's release.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


@app.command("list")
def list_held(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """What waits: id, case, author, rules that held it, who it would go to, since when."""
    with connection(ctx.obj.engine, read_only=True) as conn:
        rows = [
            {
                "id": h.id,
                "case": held.case_ref(conn, h.case_id),
                "author": h.author,
                "rules": list(h.rules),
                "why": "; ".join(h.summaries[:3]),
                "recipients": [r.address for r in h.recipients],
                "since": h.created_at,
            }
            for h in held.waiting(conn)
        ]
    emit_rows(rows, ["id", "case", "author", "rules", "why", "recipients", "since"], as_json=as_json, title="Held mail")


@app.command("release")
def release(
    ctx: typer.Context,
    held_id: Annotated[int, typer.Argument(help="the held mail (mailflow held list)")],
    chair: Annotated[str, typer.Option("--as", help="the chair (roster name) deciding")],
    reason: Annotated[str, typer.Option("--reason", help="why it may go as it is (recorded in the diary)")],
) -> None:
    """Let one held mail go exactly as it was: the diary records the chair and the reason."""
    settings = ctx.obj.settings
    member = next((m for m in settings.committee.members if m.name == chair), None)
    if member is None or member.role != "chair":
        fail(f"{chair!r} is not a chair on the roster")
    runtime = Runtime.build(settings)
    try:
        with connection(runtime.engine) as conn:
            lock_for_threading(conn)
            kept = held.by_id(conn, held_id)
            if kept is None:
                fail(f"no held mail {held_id}")
            if chair in standing.excluded(conn, kept.case_id):
                fail(f"{chair} is excluded from case {held.case_ref(conn, kept.case_id)} and cannot decide on it")
            held.release(conn, kept, chair=chair, reason=reason, now=utcnow())
        runtime.deliver([kept.outbound_id])
        console.print(f"released held mail {held_id}; the diary records {chair} and the reason", highlight=False)
    except held.ReleaseRefused as exc:
        fail(str(exc))
    finally:
        runtime.close()
