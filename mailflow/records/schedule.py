"""The records' periodic work, run after every deadline check (``mailflow serve``'s scheduler and
``mailflow tick``), and the reminders of the ban register (deadline actions).

* a case that has a lead and no assessment yet: the lead is mailed the questionnaire, once;
* copies of records mailed to members are emptied once they have left;
* every ``[records] heads_mail_days``: the digest of every diary's head to ``[notices]
  board_address``, so that a rewrite of the whole database shows against what the board holds;
* every ``[records] retention_check_hours`` (with ``retention_scheduled``): retention.

Each is cheap when there is nothing to do; what ran when is kept in ``records_run``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, false, select

from mailflow.auth import RosterMember
from mailflow.case import deadlines, standing
from mailflow.case import service as cases
from mailflow.clock import as_utc
from mailflow.database import connection, lock_for_threading
from mailflow.drafting.approval import approvers
from mailflow.drafting.context import DraftingContext
from mailflow.model import CaseState, OutboundKind
from mailflow.model import core as t
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft
from mailflow.outbound.to_members import to_members
from mailflow.parse.message import Address
from mailflow.records import assessment, bans, evidence, retention, store
from mailflow.records import tables as r
from mailflow.records.facts import load, rows

log = logging.getLogger(__name__)

OPEN = (CaseState.NEW, CaseState.OPEN, CaseState.INVESTIGATING, CaseState.RESOLUTION_PROPOSED)


def tick(engine: Engine, ctx: DraftingContext, now: datetime) -> None:
    settings = ctx.settings.records
    with connection(engine) as conn:
        lock_for_threading(conn)
        questionnaires(conn, ctx, now)
        retention.scrub_records_mail(conn, now)
        if (
            ctx.settings.notices.board_address
            and settings.heads_mail_days
            and _due(conn, "heads-mail", now, timedelta(days=settings.heads_mail_days))
        ):
            mail_heads(conn, ctx, now)
            _ran(conn, "heads-mail", now, {})
        run_retention = settings.retention_scheduled and _due(
            conn, "retention", now, timedelta(hours=settings.retention_check_hours)
        )
        if run_retention:
            _ran(conn, "retention", now, {})
    if run_retention:
        members = [m.name for m in ctx.roster]
        outcome = retention.run(engine, ctx.settings, members, now, apply=True, due_only=True)
        if outcome.removed:
            with connection(engine) as conn:
                _ran(conn, "retention", now, {"removed": outcome.removed})


def _due(conn: Connection, name: str, now: datetime, every: timedelta) -> bool:
    last = conn.execute(select(r.records_run.c.last_at).where(r.records_run.c.name == name)).scalar()
    return last is None or as_utc(last) + every <= now


def _ran(conn: Connection, name: str, now: datetime, detail: dict[str, Any]) -> None:
    rr = r.records_run.c
    if conn.execute(select(rr.id).where(rr.name == name)).first() is None:
        conn.execute(r.records_run.insert(), {"name": name, "last_at": now, "detail": detail})
    else:
        conn.execute(r.records_run.update().where(rr.name == name).values(last_at=now, detail=detail))


def questionnaires(conn: Connection, ctx: DraftingContext, now: datetime) -> int:
    """Mail the assessment questionnaire to the lead of each open case that has none yet."""
    m, c, rc = t.case_member.c, t.cases.c, r.case_record.c
    query = (
        select(c.id, c.ref, m.member)
        .join(t.case_member, m.case_id == c.id)
        .outerjoin(r.case_record, rc.case_id == c.id)
        .where(
            m.assignment == "lead",
            m.excluded.is_(False),
            c.state.in_(OPEN),
            c.imported == false(),  # '= false', not 'IS false': read through ix_cases_state_imported
            rc.questionnaire_at.is_(None),
        )
    )
    sent = 0
    for case_id, ref, lead in rows(conn, query):
        member = next((x for x in ctx.roster if x.name == lead), None)
        if member is None:
            continue
        [case] = load(conn, [case_id])
        text = assessment.questionnaire(case, ctx.settings.records.categories)
        to_members(
            conn, ctx.settings, cases.CaseRef(case_id, ref), [member], "Assessment questionnaire", text,
            now=now, automatic="auto-generated",
        )  # fmt: skip
        store.update(conn, case_id, now, questionnaire_at=now)
        sent += 1
    return sent


def mail_heads(conn: Connection, ctx: DraftingContext, now: datetime) -> None:
    board = ctx.settings.notices.board_address
    assert board is not None
    digest = evidence.heads(conn, now, key=_key(ctx))
    service = ctx.settings.service
    text = (
        f"The heads of the {service.committee_name}'s case diaries, for your records.\n\n"
        "Each line is a case, its last diary entry and that entry's hash. Keep this mail: should anyone\n"
        "rewrite the database, `mailflow diary heads --check FILE` against a copy of it shows which case\n"
        "no longer holds what it held. It names no person and no incident.\n\n" + digest.text
    )
    outbox.draft(
        conn,
        Draft(
            from_name=service.committee_name,
            from_addr=str(ctx.conduct),
            to=(Address("", board),),
            subject=f"[{service.subject_tag}] Diary heads {now:%Y-%m-%d}",
            text=text,
            auto_submitted="auto-generated",
        ),
        kind=OutboundKind.SYSTEM,
        now=now,
    )


def _key(ctx: DraftingContext) -> bytes | None:
    secret = ctx.settings.records.heads_key
    return secret.get_secret_value().encode("utf-8") if secret else None


# -- the ban register's reminders (deadline actions, registered in mailflow.committee.deadlines) --


def _ban_reminder(what: str) -> Any:
    def run(
        conn: Connection, ctx: DraftingContext, item: deadlines.Due, state: CaseState, now: datetime, clock: datetime
    ) -> str | None:
        ban_id = int(item.name.rpartition("-")[2])
        ban = next((b for b in bans.listing(conn, clock, case_id=item.case_id) if b.id == ban_id), None)
        if ban is None or ban.state == "lifted":
            return None
        when = ban.ends_on if what == "end" else ban.review_on
        said = (
            f"{ban.kind} {ban.id} ({ban.scope}) {'ends' if what == 'end' else 'is due for review'} on {when:%Y-%m-%d}"
            if when
            else f"{ban.kind} {ban.id}"
        )
        advice = (
            "Decide whether it ends as planned, and tell the moderators who apply it (mailflow bans export)."
            if what == "end"
            else "Review it with the committee: keep, shorten or lift it (/lift NUMBER REASON)."
        )
        members = _leads(conn, ctx, item.case_id)
        if members:
            case = cases.CaseRef(item.case_id, item.case_ref)
            subject = f"Ban register: {ban.kind} {ban.id} {'ends' if what == 'end' else 'review'} soon"
            to_members(
                conn, ctx.settings, case, members, subject, f"{said}.\n{advice}", now=now, automatic="auto-generated"
            )
        return said

    return run


def _leads(conn: Connection, ctx: DraftingContext, case_id: int) -> list[RosterMember]:
    standings = standing.of_case(conn, case_id)
    leads = [m for m in ctx.roster if (s := standings.get(m.name)) and s.assignment == "lead" and not s.excluded]
    return leads or approvers(conn, ctx, case_id)


ACTIONS: dict[str, Any] = {"ban-end": _ban_reminder("end"), "ban-review": _ban_reminder("review")}
"""Deadline families of the records -> what firing one does (see mailflow.committee.deadlines)."""
