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
* Django: "they must report their actions to the working group for review within 24 hours" ->
  ``unilateral-SEQ``, met by the member's ``/report``: else the chairs and the member are alerted.
* Django: "If the working group cannot reach consensus or a sufficient majority within a reasonable
  timeframe, the working group will turn the matter over to the board" -> ``vote-ID``: the vote is
  closed (two thirds of the eligible members adopt it), else a report to the board is drafted.
* Jupyter: mediation "should be completed within two weeks" -> ``mediation-SEQ``: remind the lead.
* Django: "If the committee cannot reach consensus ... within a week, ... escalate to the board"
  -> ``deadlock-SEQ``: draft an escalation to the board.
* A date a sent notice promised (``reply_by``, ``feedback_by``, ``respond_by``, ``answer_by``,
  ``ends_on``) -> ``KEY-DRAFT``: remind the lead that the date has come, with what is missing
  (who has not answered); met when every addressee of that notice answered in time.

Every deadline that fires is also an alert for the chairs' digest (``mailflow status`` counts them).
An urgent case (``/urgent``) runs its status updates on ``urgent_hours``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Select, bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import deadlines, decisions, diary, standing
from mailflow.case import service as cases
from mailflow.case.entries import DeadlineFired
from mailflow.committee import voting
from mailflow.config import NoticeSettings
from mailflow.database import connection, lock_for_threading
from mailflow.drafting import approval, drafts
from mailflow.drafting.context import DraftingContext
from mailflow.model import AlertKind, CaseState, ConversationKind, OutboundKind, OutboundState
from mailflow.model import core as t
from mailflow.outbound import alerts, digest
from mailflow.outbound.to_members import to_members
from mailflow.records import schedule as records

log = logging.getLogger(__name__)

OPEN = frozenset({CaseState.NEW, CaseState.OPEN, CaseState.INVESTIGATING, CaseState.RESOLUTION_PROPOSED})

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

_SENT_AT: Select[datetime] = (
    select(_o.created_at)
    .join(t.notice_draft, t.notice_draft.c.outbound_id == _o.id)
    .where(t.notice_draft.c.id == bindparam("draft_id"))
)
_WROTE_SINCE: Select[str | None] = select(t.diary.c.from_addr).where(
    t.diary.c.case_id == bindparam("case_id"), t.diary.c.inbound_id.is_not(None), t.diary.c.at >= bindparam("since")
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


def plan_imported_case(conn: Connection, case_id: int, imported_at: datetime, notices: NoticeSettings) -> None:
    """An imported case the committee takes up: its status updates, counted from the import. No
    acknowledgement or personal reply is due: the import sent none and promised none."""
    update = imported_at + timedelta(days=notices.status_update_days)
    deadlines.plan(conn, case_id, "status-update-1", update, about="a resolution, or a status update", now=imported_at)


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
            alerts.raise_alert(conn, AlertKind.OVERDUE, f"{item.name}: {what}", now=stamp, case_id=item.case_id)
            fired.append(Fired(item.case_ref, item.name, what))
        service = ctx.settings.service
        digest.send(
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
    notices = ctx.settings.notices
    days = notices.status_update_days
    number = int(item.name.rpartition("-")[2]) if item.name.rpartition("-")[2].isdigit() else 1
    urgent = conn.execute(_CASE, {"case_id": item.case_id}).one()[1] is not None
    period = timedelta(hours=notices.urgent_hours) if urgent else timedelta(days=days)
    deadlines.plan(
        conn,
        item.case_id,
        f"status-update-{number + 1}",
        max(item.due_at, clock) + period,  # a late check drafts one update, not one per period missed
        about="a resolution, or another status update",
        now=now,
    )
    values = {"projected_timeline": drafts.PLACEHOLDER, "status": drafts.PLACEHOLDER}
    try:
        with conn.begin_nested():
            draft = approval.ask(
                conn, ctx, item.case_id, "reporter/status-update", owner="mailflow", values=values, now=now,
                detail={"deadline": item.name},
            )  # fmt: skip
        text = (
            f"Case {item.case_ref} has no resolution yet. A status update with a projected timeline is drafted"
            f" (draft {draft.id}): complete it and approve it, or reject it. The next update is due on"
            f" {max(item.due_at, clock) + period:%Y-%m-%d} unless the case is resolved."
        )
    except drafts.DraftError as exc:
        text = f"Case {item.case_ref} has no resolution yet; a status update could not be drafted: {exc}"
    _tell(conn, ctx, item, _leads(conn, ctx, item.case_id), "No resolution yet: status update due", text, now)
    return f"no resolution yet (update {number}): a status update is drafted"


def _unilateral(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    hours = ctx.settings.notices.unilateral_report_hours
    what = f"{item.set_by} did not report their unilateral action for review within {hours:g} hours ({item.about})"
    member = [m for m in ctx.roster if m.name == item.set_by]
    chairs = _chairs(conn, ctx, item.case_id)
    _tell(conn, ctx, item, [*member, *(c for c in chairs if c not in member)], "Unilateral action not reported",
          what + ". Report it with /report TEXT to the case's internal address.", now)  # fmt: skip
    return what


def _vote(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    number = item.name.rpartition("-")[2]
    proposal = decisions.get(conn, int(number)) if number.isdigit() else None
    if proposal is None or proposal.state is not decisions.ProposalState.OPEN:
        return None
    settled = voting.settle(conn, ctx, proposal, by="mailflow", now=now, closing=True)
    if settled is None:
        return None
    return f"the vote on proposal {proposal.id} closed: {settled.outcome.value}"


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
    if state not in OPEN or state is CaseState.RESOLUTION_PROPOSED:
        return None  # decided meanwhile
    what = f"no consensus for {ctx.settings.notices.deadlock_days:g} days: an escalation to the board is drafted"
    try:
        with conn.begin_nested():
            values = {"kind": "escalation", "summary": drafts.PLACEHOLDER, "decision": drafts.PLACEHOLDER}
            approval.ask(conn, ctx, item.case_id, "board/report", owner="mailflow", values=values, now=now)
    except drafts.DraftError as exc:
        _tell(conn, ctx, item, _chairs(conn, ctx, item.case_id), "Deadlock", f"{what}, but: {exc}", now)
    return what


def _promised_date(
    conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
) -> str | None:
    if state not in OPEN and item.family != "ends_on":
        return None
    draft_id = item.name.rpartition("-")[2]
    draft = drafts.get(conn, int(draft_id)) if draft_id.isdigit() else None
    missing = ""
    if draft is not None and item.family != "ends_on":
        silent = _not_answered(conn, draft)
        if not silent:
            return None  # everyone it asked answered in time
        missing = "; no answer yet from: " + ", ".join(silent)
    what = f"the date a notice promised has come ({item.family} {item.due_at:%Y-%m-%d}): {item.about}{missing}"
    _tell(conn, ctx, item, _leads(conn, ctx, item.case_id), f"Date reached: {item.family}", what, now)
    return what


def _not_answered(conn: Connection, draft: drafts.NoticeDraftView) -> list[str]:
    """The addressees of a sent notice who wrote nothing to the case since (named, not by address)."""
    sent_at = conn.execute(_SENT_AT, {"draft_id": draft.id}).scalar()
    if sent_at is None:
        return [r.name or "an addressee" for r in draft.recipients]
    rows = conn.execute(_WROTE_SINCE, {"case_id": draft.case_id, "since": sent_at}).scalars()
    wrote = {(address or "").lower() for address in rows}
    return [r.name or "an addressee" for r in draft.recipients if r.address.lower() not in wrote]


_ACTIONS: dict[str, Action] = {
    "acknowledgement": _acknowledgement,
    "personal-reply": _personal_reply,
    "status-update": _status_update,
    "unilateral": _unilateral,
    "mediation": _mediation,
    "deadlock": _deadlock,
    "vote": _vote,
    **records.ACTIONS,  # the ban register's reminders
}


def _chairs(conn: Connection, ctx: DraftingContext, case_id: int) -> list[RosterMember]:
    return approval.approvers(conn, ctx, case_id)


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
