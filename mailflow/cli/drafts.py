"""``mailflow drafts ...`` and ``mailflow tick``: notices awaiting approval, and the deadlines.

From a shell, the operator acts for a named chair (``--as``): the same rules apply as by mail (a
chair, not excluded from the case, each draft decided once), and the diary names that chair.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mailflow.cli import lists
from mailflow.cli.lists import AllOption, JsonOption, LimitOption, SinceOption
from mailflow.cli.output import console, fail

if TYPE_CHECKING:
    from mailflow.runtime import Runtime

app = typer.Typer(help="Notices waiting for a chair's approval.", no_args_is_help=True)
AsOption = Annotated[str, typer.Option("--as", help="the chair (roster name) deciding")]


def _runtime(ctx: typer.Context) -> Runtime:
    from mailflow.runtime import Runtime

    return Runtime.build(ctx.obj.settings)


@app.command("list")
def list_drafts(
    ctx: typer.Context,
    limit: LimitOption = lists.DEFAULT_LIMIT,
    every: AllOption = False,
    state: Annotated[
        str | None, typer.Option("--state", help=f"only this state: {', '.join(lists.DRAFT_STATES)}")
    ] = None,
    since: SinceOption = None,
    as_json: JsonOption = False,
) -> None:
    """Drafts, newest first: case, notice, owner, state, recipients, subject (says when more exist)."""
    page = lists.paging(limit, every, since, state, lists.DRAFT_STATES)
    columns = ["id", "case", "notice", "owner", "state", "recipients", "subject", "decided_by", "reason"]
    lists.show(ctx, lists.drafts, page, columns, as_json=as_json, title="Drafts", noun="drafts")


def _decide(ctx: typer.Context, draft_id: int, chair: str, reason: str | None, edited: str | None = None) -> None:
    from mailflow.clock import utcnow
    from mailflow.database import connection, lock_for_threading
    from mailflow.drafting import approval, drafts
    from mailflow.errors import DraftError

    runtime = _runtime(ctx)
    try:
        with connection(runtime.engine) as conn:
            lock_for_threading(conn)
            draft = drafts.get(conn, draft_id)
            if draft is None:
                fail(f"no draft {draft_id}")
            drafting = runtime.services.drafting
            if reason is None:
                decided = approval.approve(conn, drafting, draft, chair, now=utcnow(), edited_text=edited)
            else:
                decided = approval.reject(conn, drafting, draft, chair, reason, now=utcnow())
        runtime.deliver(list(decided.outbound_ids))
        console.print(decided.message, highlight=False, markup=False)
    except DraftError as exc:
        fail(str(exc))
    finally:
        runtime.close()


@app.command("approve")
def approve(
    ctx: typer.Context,
    draft_id: int,
    chair: AsOption,
    text_file: Annotated[
        Path | None,
        typer.Option("--text-file", help="approve this text instead of the draft's (a file; - for standard input)"),
    ] = None,
) -> None:
    """Approve a draft as the named chair: it passes the policy gate and is sent."""
    edited = None
    if text_file is not None:
        try:
            edited = sys.stdin.read() if str(text_file) == "-" else text_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"cannot read {text_file}: {exc}")
    _decide(ctx, draft_id, chair, None, edited)


@app.command("reject")
def reject(
    ctx: typer.Context,
    draft_id: int,
    chair: AsOption,
    reason: Annotated[str, typer.Option("--reason", help="why (recorded in the diary)")],
) -> None:
    """Reject a draft as the named chair: it is not sent."""
    _decide(ctx, draft_id, chair, reason)


def tick(
    ctx: typer.Context,
    now: Annotated[
        str | None, typer.Option("--now", help="the clock to check against (ISO time, UTC if naive)")
    ] = None,
) -> None:
    """Check the manuals' deadlines once: alerts, reminders and drafts for what is due (each fires once)."""
    from mailflow.clock import utcnow
    from mailflow.committee import deadlines
    from mailflow.database import connection
    from mailflow.outbound import outbox

    try:
        at = datetime.fromisoformat(now) if now else utcnow()
    except ValueError:
        fail(f"--now {now!r} is not an ISO time (e.g. 2026-11-30T09:00)")
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    runtime = _runtime(ctx)
    try:
        fired = deadlines.tick(runtime.engine, runtime.services.drafting, at, stamp=min(at, utcnow()))
        with connection(runtime.engine) as conn:
            due = outbox.due(conn, utcnow())
        runtime.deliver(due)
    finally:
        runtime.close()
    for item in fired:
        console.print(f"{item.case_ref}: {item.name}: {item.what}", highlight=False, markup=False)
    console.print(f"{len(fired)} deadline(s) fired", highlight=False)
