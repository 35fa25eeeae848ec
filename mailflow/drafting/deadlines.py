"""The manuals' deadlines, kept by the service instead of by memory: what firing one does.

Every date a case must keep is a row (``mailflow.case.deadlines``), planned when it becomes known;
``tick(now)`` fires each one that is due, once, and records it in the diary. ``mailflow serve``
has a worker run it every ``check_seconds`` (the ``check_deadlines`` actor); ``mailflow tick
[--now ISO-TIME]`` runs it once at any clock. It reads only what is due, so it costs the same
over a hundred cases or a hundred thousand. Imported history plans no deadline.

* Jupyter: "This reply must be sent within 24 hours" -> ``acknowledgement``: no acknowledgement
  went out: alert the chairs; ``personal-reply``: no member wrote to the reporter yet (the
  acknowledgement promises a personal reply): remind the lead.
* Jupyter: "aim to have a resolution agreed upon within one week ... if not, ... an update with a
  projected timeline" -> ``status-update-N``: no resolution yet: draft a status update for
  approval, remind the lead, and plan the next one (updates recur until the case is resolved).
* Django: "Any member ... taking unilateral action ... must report it to the committee within 24
  hours" -> ``unilateral-SEQ``: remind the member who marked it.
* Jupyter: mediation "should be completed within two weeks" -> ``mediation-SEQ``: remind the lead.
* Django: "If the committee cannot reach consensus ... within a week, ... escalate to the board"
  -> ``deadlock-SEQ``: draft an escalation to the board.
* A date a sent notice promised (``reply_by``, ``feedback_by``, ``respond_by``, ``answer_by``,
  ``ends_on``) -> ``KEY-DRAFT``: remind the lead that the date has come, with what is missing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Select, bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import deadlines, diary, standing
from mailflow.case import service as cases
from mailflow.case.entries import DeadlineFired
from mailflow.config import NoticeSettings
from mailflow.database import connection, lock_for_threading
from mailflow.drafting import drafts
from mailflow.drafting.drafts import DraftingContext
from mailflow.model import CaseState, ConversationKind, OutboundKind, OutboundState
from mailflow.model import core as t
from mailflow.outbound import alerts
from mailflow.outbound.to_members import to_members
from mailflow.records import schedule as records

log = logging.getLogger(__name__)

OPEN = frozenset({CaseState.NEW, CaseState.OPEN, CaseState.INVESTIGATING, CaseState.RESOLUTION_PROPOSED})
PLACEHOLDER = "[to be completed before approval]"

_c, _o = t.cases.c, t.outbound.c
_CASE: Select[str, datetime | None] = select(_c.state, _c.urgent_since).where(_c.id == bindparam("case_id"))
_ACK_SENT = select(_o.id).where(
    _o.case_id == bindparam("case_id"), _o.kind == OutboundKind.ACKNOWLEDGEMENT, _o.state == OutboundState.SENT
)
_WROTE_TO_REPORTER = (
    select(_o.id)
    .join(t.conversation, t.conversation.c.id == _o.conversation_id)
    .where(
        _o.case_id == bindparam("case_id"),
        _o.kind.in_([OutboundKind.RELAY, OutboundKind.NOTICE]),
        _o.state.in_([OutboundState.QUEUED, OutboundState.SENDING, OutboundState.SENT, OutboundState.RETRY]),
        t.conversation.c.number == cases.REPORTER_CONVERSATION,
        t.conversation.c.kind == ConversationKind.OUTSIDE,
    )
)


@dataclass(frozen=True, slots=True)
class Fired:
    case_ref: str
    name: str
    what: str


def plan_new_case(conn: Connection, case_id: int, opened_at: datetime, notices: NoticeSettings) -> None:
    """A live case opened: its acknowledgement, the personal reply it promises, its first update."""
    ack = timedelta(hours=notices.acknowledgement_hours)
    deadlines.plan(conn, case_id, "acknowledgement", opened_at + ack, about="the acknowledgement", now=opened_at)
    deadlines.plan(
        conn, case_id, "personal-reply", opened_at + ack, about="a member's first letter to the reporter", now=opened_at
    )
    update = opened_at + timedelta(days=notices.status_update_days)
    deadlines.plan(conn, case_id, "status-update-1", update, about="a resolution, or a status update", now=opened_at)


def tick(engine: Engine, ctx: DraftingContext, now: datetime, *, stamp: datetime | None = None) -> list[Fired]:
    """Fire every deadline that is due at ``now`` and has not fired yet. What it writes and drafts
    is dated ``stamp`` (default ``now``): an operator checking a future clock still gets mail that
    is due at once. Then the chairs' digest of alerts, when one is due."""
    stamp = stamp or now
    fired: list[Fired] = []
    with connection(engine) as conn:
        lock_for_threading(conn)
        for item in deadlines.due(conn, now):
            if not deadlines.fire(conn, item, stamp):
                continue
            state, _urgent = conn.execute(_CASE, {"case_id": item.case_id}).one()
            what = _ACTIONS.get(item.family, _promised_date)(conn, ctx, item, CaseState(state), stamp, now)
            if what is None:  # met after all, or the case is no longer open: nothing to say
                deadlines.met(conn, item, stamp)
                continue
            diary.append(conn, item.case_id, DeadlineFired(item.name, what), at=stamp, actor="mailflow")
            fired.append(Fired(item.case_ref, item.name, what))
        service = ctx.settings.service
        alerts.digest(
            conn,
            [m for m in ctx.roster if m.role == "chair"],
            committee_name=service.committee_name,
            conduct_address=str(ctx.conduct),
            now=stamp,
            every=timedelta(hours=ctx.settings.notices.digest_hours),
        )
    for done in fired:
        log.info("deadline %s fired on case %s", done.name, done.case_ref)
    records.tick(engine, ctx, stamp)  # the records' periodic work: questionnaires, heads, retention
    return fired


Action = Callable[[Connection, DraftingContext, deadlines.Due, CaseState, datetime, datetime], "str | None"]
"""(conn, ctx, the deadline, the case's state, the time to write, the clock checked) -> what was done,
or None when it was met after all (or the case is no longer open)."""


def _acknowledgement(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    if conn.execute(_ACK_SENT, {"case_id": item.case_id}).first() is not None:
        return None
    what = f"no acknowledgement was sent within {ctx.settings.notices.acknowledgement_hours:g} hours"
    _tell(conn, ctx, item, _chairs(conn, ctx, item.case_id), "Acknowledgement overdue", what, now)
    return what


def _personal_reply(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    if state not in OPEN or conn.execute(_WROTE_TO_REPORTER, {"case_id": item.case_id}).first() is not None:
        return None
    hours = ctx.settings.notices.acknowledgement_hours
    what = (
        f"the acknowledgement promised a personal reply within {hours:g} hours and no member has written to the"
        " reporter yet (write through the reporter's conversation address)"
    )
    _tell(conn, ctx, item, _leads(conn, ctx, item.case_id), "Personal reply to the reporter due", what, now)
    return what


def _status_update(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    if state not in OPEN:
        return None
    days = ctx.settings.notices.status_update_days
    number = int(item.name.rpartition("-")[2]) if item.name.rpartition("-")[2].isdigit() else 1
    deadlines.plan(
        conn,
        item.case_id,
        f"status-update-{number + 1}",
        max(item.due_at, clock) + timedelta(days=days),  # a late check drafts one update, not one per week missed
        about="a resolution, or another status update",
        now=now,
    )
    values = {"projected_timeline": PLACEHOLDER, "status": PLACEHOLDER}
    try:
        with conn.begin_nested():
            draft = drafts.create(
                conn, ctx, item.case_id, "reporter/status-update", owner="mailflow", values=values, now=now,
                detail={"deadline": item.name},
            )  # fmt: skip
        text = (
            f"Case {item.case_ref} has no resolution after {days * number:g} days. A status update with a projected"
            f" timeline is drafted (draft {draft.id}): complete it and approve it, or reject it. The next update is"
            f" due in {days:g} days unless the case is resolved."
        )
    except drafts.DraftError as exc:
        text = f"Case {item.case_ref} has no resolution yet; a status update could not be drafted: {exc}"
    _tell(conn, ctx, item, _leads(conn, ctx, item.case_id), "No resolution yet: status update due", text, now)
    return f"no resolution after {days * number:g} days: a status update is drafted"


def _unilateral(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    hours = timedelta(hours=ctx.settings.notices.unilateral_report_hours)
    what = f"unilateral action by {item.set_by}: report it to the committee by {item.due_at + hours:%Y-%m-%d %H:%M} UTC"
    members = [m for m in ctx.roster if m.name == item.set_by] or _chairs(conn, ctx, item.case_id)
    _tell(conn, ctx, item, members, "Report your unilateral action within 24 hours", what, now)
    return what


def _mediation(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    if state not in OPEN:
        return None
    what = f"mediation has been open for {ctx.settings.notices.mediation_days:g} days"
    _tell(conn, ctx, item, _leads(conn, ctx, item.case_id), "Mediation still open", what, now)
    return what


def _deadlock(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    if state not in OPEN:
        return None
    what = f"no consensus for {ctx.settings.notices.deadlock_days:g} days: an escalation to the board is drafted"
    try:
        with conn.begin_nested():
            values = {"kind": "escalation", "summary": PLACEHOLDER, "decision": PLACEHOLDER}
            drafts.create(conn, ctx, item.case_id, "board/report", owner="mailflow", values=values, now=now)
    except drafts.DraftError as exc:
        _tell(conn, ctx, item, _chairs(conn, ctx, item.case_id), "Deadlock", f"{what}, but: {exc}", now)
    return what


def _promised_date(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    if state not in OPEN:
        return None
    what = f"the date a notice promised has come ({item.family} {item.due_at:%Y-%m-%d}): {item.about or 'see the case'}"
    _tell(conn, ctx, item, _leads(conn, ctx, item.case_id), f"Date reached: {item.family}", what, now)
    return what


_ACTIONS: dict[str, Action] = {
    "acknowledgement": _acknowledgement,
    "personal-reply": _personal_reply,
    "status-update": _status_update,
    "unilateral": _unilateral,
    "mediation": _mediation,
    "deadlock": _deadlock,
    **records.ACTIONS,  # the ban register's reminders
}


def _chairs(conn: Connection, ctx: DraftingContext, case_id: int) -> list[RosterMember]:
    return drafts.approvers(conn, ctx, case_id)


def _leads(conn: Connection, ctx: DraftingContext, case_id: int) -> list[RosterMember]:
    standings = standing.of_case(conn, case_id)
    leads = [m for m in ctx.roster if (s := standings.get(m.name)) and s.assignment == "lead" and not s.excluded]
    return leads or _chairs(conn, ctx, case_id)


def _tell(
    conn: Connection,
    ctx: DraftingContext,
    item: deadlines.Due,
    members: Sequence[RosterMember],
    subject: str,
    text: str,
    now: datetime,
) -> None:
    if members:
        case = cases.CaseRef(item.case_id, item.case_ref)
        to_members(conn, ctx.settings, case, members, subject, text, now=now, automatic="auto-generated")
