"""The case's record by mail: notes, the risk scale, notices drafted, and what a member may look up.

* Jupyter: "This information will be collected in writing, and whenever possible the group's
  deliberations will be recorded and retained" (``/note``).
* The Master Incident Log's risk scale: impact x likelihood, each 1 to 5 (``/impact``, ``/likelihood``).
* "All communications should be reviewed by the chair before being sent" (``/draft``, ``/drafts``).
* A member works from their mail client: ``/show`` mails them the case at a glance and its diary,
  ``/cases`` the open cases they may act on and what is overdue on each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Select, bindparam, select
from sqlmodel import Session

from mailflow.case import deadlines, standing
from mailflow.case.views import header_lines, show_case
from mailflow.committee.context import CommandError, Context, Reply
from mailflow.drafting import approval, drafts
from mailflow.model import CaseState
from mailflow.model import core as t
from mailflow.parse.addresses import ConductAddress

_c = t.cases.c
_SET_CASE = t.cases.update().where(_c.id == bindparam("case_id"))
_REF: Select[str] = select(_c.ref).where(_c.id == bindparam("case_id"))
_OPEN_CASES: Select[int, str, str, str, datetime | None] = (
    select(_c.id, _c.ref, _c.state, _c.subject, _c.urgent_since)
    .where(_c.state.in_([CaseState.NEW, CaseState.OPEN, CaseState.INVESTIGATING, CaseState.RESOLUTION_PROPOSED]))
    .order_by(_c.id)
    .limit(500)
)
_DRAFTS = select(t.notice_draft.c.id, t.notice_draft.c.notice, t.notice_draft.c.owner, t.notice_draft.c.state).where(
    t.notice_draft.c.case_id == bindparam("case_id")
)
_VALUE = re.compile(r"^([a-z_][a-z0-9_]*)\s*:\s*(.*)$")
DIARY_LINES = 200


def _note(ctx: Context, args: str) -> str:
    if not args.strip():
        raise CommandError("write the note after /note")
    return f"noted: {args.strip()}"


def _scale(column: str) -> Callable[[Context, str], str]:
    def run(ctx: Context, args: str) -> str:
        if not args.strip().isdigit() or not 1 <= int(args) <= 5:
            raise CommandError(f"{column} is a number from 1 to 5")
        ctx.conn.execute(_SET_CASE, {"case_id": ctx.case_id, column: int(args)})
        return f"{column} set to {int(args)}"

    return run


def _draft_values(body: str) -> tuple[dict[str, str], str]:
    """Leading "key: value" lines fill the template; the rest of the text is the member's message,
    which fills the notice's main text (its first required key not given)."""
    lines = body.replace("\r\n", "\n").split("\n")
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        match = _VALUE.match(lines[index].strip())
        if not match:
            break
        values[match[1]] = match[2].strip()
        index += 1
    return values, "\n".join(lines[index:]).strip()


def _draft(ctx: Context, args: str) -> str:
    if ctx.drafting is None:
        raise CommandError("notices cannot be drafted here")
    notice = args.strip().lower()
    if not notice:
        raise CommandError("say which notice: /draft AUDIENCE/NOTICE (e.g. reporter/status-update)")
    values, message = _draft_values(ctx.body)
    try:
        made = approval.ask(
            ctx.conn, ctx.drafting, ctx.case_id, notice, owner=ctx.member.name, values=values, message=message,
            now=ctx.now,
        )  # fmt: skip
    except drafts.DraftError as exc:
        raise CommandError(str(exc)) from None
    group = drafts.group_of(ctx.conn, made)
    if len(group) > 1:
        each = ", ".join(f"draft {d.id} to {d.recipients[0].name or 'one addressee'}" for d in group)
        return f"{notice} is drafted for each addressee separately ({each}); one approval decides them all"
    return f"draft {made.id} ({notice}) is waiting for a chair's approval"


def _drafts(ctx: Context, args: str) -> str:
    rows = ctx.conn.execute(_DRAFTS, {"case_id": ctx.case_id}).all()
    return "\n".join(f"draft {i}: {n} by {o}, {s}" for i, n, o, s in rows) or "no drafts on this case"


def _show(ctx: Context, args: str) -> Reply:
    """The case at a glance and its diary (subjects and what was done; the mail itself the member has)."""
    if ctx.drafting is None:
        raise CommandError("the case cannot be shown here")
    ref = ctx.conn.execute(_REF, {"case_id": ctx.case_id}).scalar_one()
    conduct = ConductAddress.parse(str(ctx.drafting.conduct))
    with Session(bind=ctx.conn) as session:
        detail = show_case(session, ref, conduct)
    lines = [*header_lines(detail), "", f"Diary ({len(detail.diary)} entries):"]
    shown = detail.diary[-DIARY_LINES:]
    if len(detail.diary) > len(shown):
        lines.append(f"(the first {len(detail.diary) - len(shown)} entries are left out; mailflow cases show has all)")
    for line in shown:
        who = line.actor or line.from_addr or ""
        what = line.subject or line.detail.get("command") or line.detail.get("note") or ""
        flag = " UNVERIFIED" if line.unverified else ""
        lines.append(f"#{line.seq} {line.at:%Y-%m-%d %H:%M} {line.kind}{flag} {who}: {what}".rstrip(": "))
    return Reply("\n".join(lines))


def _cases(ctx: Context, args: str) -> str:
    """The open cases the member may act on, with what is overdue and what is next on each."""
    lines: list[str] = []
    for case_id, ref, state, subject, urgent in ctx.conn.execute(_OPEN_CASES):
        if ctx.member.name in standing.excluded(ctx.conn, case_id):
            continue
        planned = deadlines.of_case(ctx.conn, case_id)
        overdue = [d.name for d in planned if d.fired_at is not None]
        upcoming = [d for d in planned if d.fired_at is None and d.done_at is None]
        role = standing.of_case(ctx.conn, case_id).get(ctx.member.name)
        marks = [str(state), *(["URGENT"] if urgent else [])]
        if role and role.assignment:
            marks.append(f"you are {role.assignment}")
        lines.append(f"{ref} ({', '.join(marks)}): {subject}")
        if overdue:
            lines.append(f"    overdue: {', '.join(overdue)}")
        if upcoming:
            nxt = min(upcoming, key=lambda d: d.due_at)
            lines.append(f"    next: {nxt.name} by {nxt.due_at:%Y-%m-%d %H:%M} UTC")
    return "\n".join(lines) or "no open case you may act on"


HANDLERS: dict[str, Callable[[Context, str], str | Reply]] = {
    "note": _note,
    "impact": _scale("impact"),
    "likelihood": _scale("likelihood"),
    "draft": _draft,
    "drafts": _drafts,
    "show": _show,
    "cases": _cases,
}
