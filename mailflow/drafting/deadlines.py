"""The manuals' deadlines, kept by the service instead of by memory.

Each deadline fires at most once per case (a row in ``deadline_fired`` under a unique key) and is
recorded in the diary when it does. ``tick(now)`` checks them all; ``mailflow serve`` has a worker
run it every ``check_seconds`` (the ``check_deadlines`` actor) and ``mailflow tick [--now ISO-TIME]``
runs it once at any clock.

* Jupyter: "This reply must be sent within 24 hours" -> acknowledgement not sent: alert the chair.
* Jupyter: "aim to have a resolution agreed upon within one week ... if not, ... an update with a
  projected timeline" -> no resolution after 7 days: draft a status update for approval, remind the lead.
* Django: "Any member ... taking unilateral action ... must report it to the committee within 24
  hours" -> remind the member who marked an action unilateral.
* Jupyter: mediation "should be completed within two weeks" -> remind the lead after 14 days.
* Django: "If the committee cannot reach consensus ... within a week, ... escalate to the board"
  -> draft an escalation to the board after 7 days.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, Select, bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import diary, standing
from mailflow.case import service as cases
from mailflow.database import connection, lock_for_threading
from mailflow.drafting import drafts
from mailflow.drafting.drafts import DraftingContext
from mailflow.model import CaseState, DiaryKind, OutboundKind, OutboundState
from mailflow.model import core as t
from mailflow.outbound import alerts, outbox
from mailflow.outbound.compose import Draft
from mailflow.parse.message import Address
from mailflow.parse.subject import with_tag

log = logging.getLogger(__name__)

OPEN = [CaseState.NEW, CaseState.OPEN, CaseState.INVESTIGATING, CaseState.RESOLUTION_PROPOSED]
PLACEHOLDER = "[to be completed before approval]"

_c = t.cases.c
_OPEN_CASES: Select[int, str, datetime] = select(_c.id, _c.ref, _c.created_at).where(
    _c.state.in_(OPEN), _c.created_at <= bindparam("since")
)
_FIRED = t.deadline_fired.c
_HAS_FIRED = select(_FIRED.id).where(_FIRED.case_id == bindparam("case_id"), _FIRED.name == bindparam("name"))
_FIRE = t.deadline_fired.insert()
_ACK_SENT = select(t.outbound.c.id).where(
    t.outbound.c.case_id == bindparam("case_id"),
    t.outbound.c.kind == OutboundKind.ACKNOWLEDGEMENT,
    t.outbound.c.state == OutboundState.SENT,
)
_e = t.diary.c
_MARKERS: Select[int, int, datetime, str | None, dict[str, object]] = select(
    _e.case_id, _e.seq, _e.at, _e.actor, _e.detail
).where(
    _e.kind == DiaryKind.NOTE, _e.detail["deadline_marker"].as_string().in_(["unilateral", "mediation", "deadlock"])
)


@dataclass(frozen=True, slots=True)
class Fired:
    case_ref: str
    name: str
    what: str


def tick(engine: Engine, ctx: DraftingContext, now: datetime, *, stamp: datetime | None = None) -> list[Fired]:
    """Fire every deadline that is due at ``now`` and has not fired yet. What it writes and drafts
    is dated ``stamp`` (default ``now``): an operator checking a future clock still gets mail that
    is due at once."""
    fired: list[Fired] = []
    with connection(engine) as conn:
        lock_for_threading(conn)
        fired += _per_case(conn, ctx, now, stamp or now)
        fired += _marked(conn, ctx, now, stamp or now)
        chairs = [m for m in ctx.roster if m.role == "chair"]
        service = ctx.settings.service
        alerts.digest(
            conn,
            chairs,
            committee_name=service.committee_name,
            conduct_address=str(ctx.conduct),
            now=stamp or now,
            every=timedelta(hours=ctx.settings.notices.digest_hours),
        )
    for item in fired:
        log.info("deadline %s fired on case %s", item.name, item.case_ref)
    return fired


def _fire(conn: Connection, case_id: int, name: str, now: datetime, what: str) -> bool:
    """Claim the deadline (False when it already fired) and record it in the diary."""
    if conn.execute(_HAS_FIRED, {"case_id": case_id, "name": name}).first() is not None:
        return False
    conn.execute(_FIRE, {"case_id": case_id, "name": name, "fired_at": now})
    diary.append(conn, case_id, DiaryKind.NOTE, at=now, actor="mailflow", detail={"deadline": name, "fired": what})
    return True


def _per_case(conn: Connection, ctx: DraftingContext, now: datetime, stamp: datetime) -> list[Fired]:
    notices = ctx.settings.notices
    fired: list[Fired] = []
    ack_due = timedelta(hours=notices.acknowledgement_hours)
    update_due = timedelta(days=notices.status_update_days)
    for case_id, ref, created_at in conn.execute(_OPEN_CASES, {"since": now - ack_due}).all():
        case = cases.CaseRef(case_id, ref)
        if conn.execute(_ACK_SENT, {"case_id": case_id}).first() is None:
            what = f"no acknowledgement was sent within {notices.acknowledgement_hours:g} hours"
            if _fire(conn, case_id, "acknowledgement-overdue", stamp, what):
                _alert(conn, ctx, case, _chairs(conn, ctx, case_id), "Acknowledgement overdue", what, stamp)
                fired.append(Fired(ref, "acknowledgement-overdue", what))
        if created_at + update_due <= now:
            what = f"no resolution after {notices.status_update_days:g} days: a status update is drafted"
            if _fire(conn, case_id, "status-update", stamp, what):
                fired.append(Fired(ref, "status-update", what))
                _status_update(conn, ctx, case, stamp)
    return fired


def _status_update(conn: Connection, ctx: DraftingContext, case: cases.CaseRef, now: datetime) -> None:
    values = {"projected_timeline": PLACEHOLDER, "status": PLACEHOLDER}
    try:
        with conn.begin_nested():
            draft, _ = drafts.create(conn, ctx, case.id, "reporter/status-update", owner="mailflow", values=values,
                                     now=now, detail={"deadline": "status-update"})  # fmt: skip
        text = (
            f"Case {case.ref} has no resolution after {ctx.settings.notices.status_update_days:g} days. A status update"
            f" with a projected timeline is drafted (draft {draft.id}): complete it and approve it, or reject it."
        )
    except drafts.DraftError as exc:
        text = f"Case {case.ref} has no resolution yet; a status update could not be drafted: {exc}"
    _alert(conn, ctx, case, _leads(conn, ctx, case.id), "No resolution yet: status update due", text, now)


def _marked(conn: Connection, ctx: DraftingContext, now: datetime, stamp: datetime) -> list[Fired]:
    notices = ctx.settings.notices
    fired: list[Fired] = []
    for case_id, seq, at, actor, detail in conn.execute(_MARKERS).all():
        ref: str = conn.execute(select(_c.ref).where(_c.id == case_id)).scalar_one()
        case = cases.CaseRef(case_id, ref)
        marker = detail["deadline_marker"]
        name = f"{marker}-{seq}"
        if marker == "unilateral":
            due = at + timedelta(hours=notices.unilateral_report_hours)
            what = f"unilateral action by {actor}: report it to the committee by {due:%Y-%m-%d %H:%M} UTC"
            if _fire(conn, case_id, name, stamp, what):
                members = [m for m in ctx.roster if m.name == actor]
                _alert(conn, ctx, case, members, "Report your unilateral action within 24 hours", what, stamp)
                fired.append(Fired(ref, name, what))
        elif marker == "mediation" and at + timedelta(days=notices.mediation_days) <= now:
            what = f"mediation has been open for {notices.mediation_days:g} days"
            if _fire(conn, case_id, name, stamp, what):
                _alert(conn, ctx, case, _leads(conn, ctx, case_id), "Mediation still open", what, stamp)
                fired.append(Fired(ref, name, what))
        elif marker == "deadlock" and at + timedelta(days=notices.deadlock_days) <= now:
            what = f"no consensus for {notices.deadlock_days:g} days: an escalation to the board is drafted"
            if _fire(conn, case_id, name, stamp, what):
                fired.append(Fired(ref, name, what))
                try:
                    with conn.begin_nested():
                        values = {"kind": "escalation", "summary": PLACEHOLDER, "decision": PLACEHOLDER}
                        drafts.create(conn, ctx, case_id, "board/report", owner="mailflow", values=values, now=stamp)
                except drafts.DraftError as exc:
                    _alert(conn, ctx, case, _chairs(conn, ctx, case_id), "Deadlock", f"{what}, but: {exc}", stamp)
    return fired


def _chairs(conn: Connection, ctx: DraftingContext, case_id: int) -> list[RosterMember]:
    return drafts.approvers(conn, ctx, case_id)


def _leads(conn: Connection, ctx: DraftingContext, case_id: int) -> list[RosterMember]:
    standings = standing.of_case(conn, case_id)
    leads = [m for m in ctx.roster if (s := standings.get(m.name)) and s.assignment == "lead" and not s.excluded]
    return leads or _chairs(conn, ctx, case_id)


def _alert(
    conn: Connection,
    ctx: DraftingContext,
    case: cases.CaseRef,
    members: Sequence[RosterMember],
    subject: str,
    text: str,
    now: datetime,
) -> None:
    if not members:
        return
    team = cases.conversation(conn, case.id, cases.TEAM)
    assert team is not None
    outbox.draft(
        conn,
        Draft(
            from_name=ctx.settings.service.committee_name,
            from_addr=str(ctx.conduct),
            to=tuple(Address(m.name, m.addresses[0]) for m in members),
            subject=with_tag(subject, ctx.settings.service.subject_tag, case.ref),
            text=text + "\n",
            reply_to=cases.address_of(ctx.conduct, case.ref, team),
            auto_submitted="auto-generated",
        ),
        kind=OutboundKind.SYSTEM,
        case_id=case.id,
        conversation_id=team.id,
        now=now,
    )
