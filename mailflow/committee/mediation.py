"""Mediation as Jupyter's manual runs it.

"If the Committee suggests mediation, it should: find a candidate who can serve as a mediator;
obtain the agreement of the reporter(s) ... obtain the agreement of the reported person(s); settle
on the mediator: ... only if common agreement is reached on all terms can the process move
forward; establish a timeline for mediation to complete, ideally within two weeks. ... Upon
completion, the mediator will provide a report (vetted by all parties to the process) to the
Committee ... The Committee will then evaluate these results ... and decide."

So: the mediator is a party (``/party mediator NAME <ADDRESS>``); each reporter, harmed and
reported person's agreement is recorded from their own message (``/agree NAME mediation ENTRY``);
``/mediation start`` is refused until everyone agreed, and plans the timeline's deadline;
``/mediation report ENTRY`` records the mediator's report (a message from the mediator); each party
vets it (``/agree NAME report ENTRY``); until all have, the committee proposes no resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, select

from mailflow.case import deadlines, parties
from mailflow.committee.context import CommandError, Context, Reply, Tell, written_by
from mailflow.config import NoticeSettings
from mailflow.model import PartyRole
from mailflow.model import core as t

_c = t.cases.c
_CASE: Select[str, datetime | None, int | None] = select(
    _c.ref, _c.mediation_started_at, _c.mediation_report_seq
).where(_c.id == bindparam("case_id"))
_SET_CASE = t.cases.update().where(_c.id == bindparam("case_id"))
_SIDES = (PartyRole.REPORTER, PartyRole.HARMED, PartyRole.REPORTED)


def _case(ctx: Context) -> tuple[str, datetime | None, int | None]:
    ref, started, report = ctx.conn.execute(_CASE, {"case_id": ctx.case_id}).one()
    return str(ref), started, report


def _sides(ctx: Context) -> list[parties.PartyView]:
    return [p for p in parties.of_case(ctx.conn, ctx.case_id) if p.role in _SIDES]


def _mediators(ctx: Context) -> list[parties.PartyView]:
    return [p for p in parties.of_case(ctx.conn, ctx.case_id) if p.role is PartyRole.MEDIATOR]


def blocks_decision(ctx: Context) -> str | None:
    """Why the committee may not decide yet because of a mediation under way, or None."""
    _ref, started, report = _case(ctx)
    if started is None:
        return None
    if report is None:
        return "mediation is under way: the committee decides after the mediator's report (/mediation report ENTRY)"
    waiting = [p.shown for p in _sides(ctx) if p.report_vetted_seq is None]
    if waiting:
        return f"the mediator's report is not yet vetted by {', '.join(waiting)} (/agree NAME report ENTRY)"
    return None


def _start(ctx: Context) -> Reply:
    ref, started, _ = _case(ctx)
    if started is not None:
        raise CommandError(f"mediation on this case began on {started:%Y-%m-%d}")
    mediators, sides = _mediators(ctx), _sides(ctx)
    if not mediators:
        raise CommandError("no mediator yet: /party mediator NAME <ADDRESS>, then each party's agreement")
    roles = {p.role for p in sides}
    if PartyRole.REPORTED not in roles or not roles & {PartyRole.REPORTER, PartyRole.HARMED}:
        raise CommandError("mediation is between the reporter (or harmed person) and the reported person: add them")
    waiting = [p.shown for p in sides if p.mediation_agreed_seq is None]
    if waiting:
        raise CommandError(
            f"mediation is voluntary and needs everyone's agreement; not yet agreed: {', '.join(waiting)}"
            " (/agree NAME mediation ENTRY, the entry being their own message)"
        )
    notices = ctx.drafting.settings.notices if ctx.drafting else NoticeSettings()
    due = ctx.now + timedelta(days=notices.mediation_days)
    ctx.conn.execute(_SET_CASE, {"case_id": ctx.case_id, "mediation_started_at": ctx.now, "updated_at": ctx.now})
    about = f"mediation by {mediators[0].shown}: the mediator's report, vetted by every party"
    deadlines.plan(ctx.conn, ctx.case_id, f"mediation-{ctx.own_entry()}", due, about=about, by=ctx.member.name,
                   now=ctx.now)  # fmt: skip
    text = f"Mediation on case {ref} began; its timeline ends on {due:%Y-%m-%d}.\n"
    tells = (Tell(ctx.others(), "Mediation began", text),) if ctx.others() else ()
    return Reply(f"mediation started: the mediator's report is due by {due:%Y-%m-%d}", tells)


def _report(ctx: Context, entry: str) -> Reply:
    ref, started, _ = _case(ctx)
    if started is None:
        raise CommandError("no mediation is under way on this case (/mediation start)")
    seq_text = entry.strip().lstrip("#")
    if not seq_text.isdigit():
        raise CommandError("say which diary entry holds the mediator's report: /mediation report ENTRY")
    mediator = next((m for m in _mediators(ctx) if m.address), None)
    if mediator is None:
        raise CommandError("the mediator has no address on this case")
    written_by(ctx, mediator, int(seq_text), "the mediator's report")
    ctx.conn.execute(_SET_CASE, {"case_id": ctx.case_id, "mediation_report_seq": int(seq_text), "updated_at": ctx.now})
    for party in _sides(ctx):
        parties.record_agreement(ctx.conn, party, "report", None)  # a new report is vetted anew
    text = (
        f"The mediator's report on case {ref} is diary entry {seq_text}. Each party vets it; record each answer"
        " with /agree NAME report ENTRY. The committee decides once every party has."
    )
    tells = (Tell(ctx.others(), "The mediator's report", text),) if ctx.others() else ()
    return Reply(f"the mediator's report is diary entry {seq_text}; each party now vets it", tells)


def _mediation(ctx: Context, args: str) -> Reply:
    verb, _, rest = args.strip().partition(" ")
    if verb.lower() in ("", "start"):
        return _start(ctx)
    if verb.lower() == "report":
        return _report(ctx, rest)
    raise CommandError("/mediation start, or /mediation report ENTRY")


def check_vetting(ctx: Context, seq: int) -> None:
    """A party's vetting must answer the mediator's report on record: come after it."""
    _ref, _started, report = _case(ctx)
    if report is None:
        raise CommandError("no mediator's report is recorded yet (/mediation report ENTRY)")
    if seq <= report:
        raise CommandError(f"entry {seq} is older than the mediator's report (entry {report}): vetting answers it")


def after_agreement(ctx: Context, what: str, said: str) -> str | Reply:
    """A party agreed to mediation, or vetted the report: say what that makes possible."""
    _ref, started, report = _case(ctx)
    sides = _sides(ctx)
    if what == "mediation" and started is None and sides and all(p.mediation_agreed_seq for p in sides):
        return (
            said
            + "; every party agreed: /mediation start begins it"
            + ("" if _mediators(ctx) else " (once the mediator is a party: /party mediator NAME <ADDRESS>)")
        )
    if what == "report" and report is not None and all(p.report_vetted_seq for p in sides):
        deadlines.done(ctx.conn, ctx.case_id, *(p.name for p in deadlines.pending(ctx.conn, ctx.case_id, "mediation-")),
                       now=ctx.now)  # fmt: skip
        text = "Every party vetted the mediator's report: the committee can now decide (/propose TYPE TEXT).\n"
        tells = (Tell(ctx.others(), "Mediation report vetted", text),) if ctx.others() else ()
        return Reply(said + "; every party vetted the mediator's report: the committee can decide", tells)
    return said


HANDLERS: dict[str, Callable[[Context, str], str | Reply]] = {"mediation": _mediation}
