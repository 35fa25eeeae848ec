"""``mailflow held ...``: outgoing mail the policy gate held, and a chair's release of one.

From a shell, the operator acts for a named chair (``--as``): the same rules apply as by mail (a
chair, not excluded from the case, each held mail released once, with a reason), and the diary
names that chair and the reason.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mailflow.cli import lists
from mailflow.cli.lists import AllOption, JsonOption, LimitOption, SinceOption
from mailflow.cli.output import console, fail

app = typer.Typer(help="Mail the policy gate held, waiting for a fix or a chair's release.", no_args_is_help=True)


@app.command("list")
def list_held(
    ctx: typer.Context,
    limit: LimitOption = lists.DEFAULT_LIMIT,
    every: AllOption = False,
    state: Annotated[
        str, typer.Option("--state", help=f"this state (default: held, what waits): {', '.join(lists.HELD_STATES)}")
    ] = "held",
    since: SinceOption = None,
    as_json: JsonOption = False,
) -> None:
    """What waits, newest first: id, case, author, rules that held it, who it would go to, since when."""
    page = lists.paging(limit, every, since, state, lists.HELD_STATES)
    columns = ["id", "case", "author", "rules", "why", "recipients", "since"]
    lists.show(ctx, lists.held, page, columns, as_json=as_json, title="Held mail", noun="held mails")


@app.command("release")
def release(
    ctx: typer.Context,
    held_id: Annotated[int, typer.Argument(help="the held mail (mailflow held list)")],
    chair: Annotated[str, typer.Option("--as", help="the chair (roster name) deciding")],
    reason: Annotated[str, typer.Option("--reason", help="why it may go as it is (recorded in the diary)")],
) -> None:
    """Let one held mail go exactly as it was: the diary records the chair and the reason."""
    from mailflow.case import standing
    from mailflow.clock import utcnow
    from mailflow.database import connection, lock_for_threading
    from mailflow.outbound import held
    from mailflow.runtime import Runtime

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
