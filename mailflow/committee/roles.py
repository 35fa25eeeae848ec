"""Who handles a case, who may not, and what members tell each other at once.

* GovStack: a lead and a secondary per incident (``/lead``, ``/secondary``); the member named is told.
* Jupyter: "In the event of any conflict of interest, a committee member must immediately notify
  the other members, and recuse themselves if necessary" (``/conflict``, ``/recuse``): the
  declaration reaches every other member who may act on the case, at once.
* Jupyter and Django: "any committee member may act immediately (before reaching consensus)" when
  someone's safety is at stake, and "must report their actions to the committee for review within
  24 hours" (``/urgent``, ``/unilateral``, ``/report``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import deadlines, decisions, standing
from mailflow.committee import voting
from mailflow.committee.context import CommandError, Context, Handler, Reply, Tell, member_named
from mailflow.config import NoticeSettings
from mailflow.model import core as t

_URGENT = select(t.cases.c.urgent_since, t.cases.c.ref).where(t.cases.c.id == bindparam("case_id"))
_SET_CASE = t.cases.update().where(t.cases.c.id == bindparam("case_id"))


def _notices(ctx: Context) -> NoticeSettings:
    return ctx.drafting.settings.notices if ctx.drafting else NoticeSettings()


def _ref(ctx: Context) -> str:
    return str(ctx.conn.execute(_URGENT, {"case_id": ctx.case_id}).one()[1])


def _assign(role: str) -> Handler:
    def run(ctx: Context, args: str) -> str | Reply:
        member = member_named(ctx, args)
        if member.name in standing.excluded(ctx.conn, ctx.case_id):
            raise CommandError(f"{member.name} is excluded from this case and cannot be its {role}")
        standing.assign(ctx.conn, ctx.case_id, member.name, role, now=ctx.now, by=ctx.member.name)
        said = f"{member.name} is the {role}"
        if member.name == ctx.member.name:
            return said
        text = (
            f"{ctx.member.name} made you the {role} of case {_ref(ctx)}.\n"
            "Write to the case's internal address (Reply-To of this mail) to work on it; /show gives its summary."
        )
        return Reply(said + f" (told {member.name})", (Tell((member.name,), f"You are the {role}", text),))

    return run


def _who_and_why(ctx: Context, args: str) -> tuple[RosterMember, str]:
    """``[NAME] [WHY]``: a member named first (full name, address or unique first name), else the author."""
    words = args.split()
    for count in range(len(words), 0, -1):
        try:
            return member_named(ctx, " ".join(words[:count])), " ".join(words[count:])
        except CommandError:
            continue
    return ctx.member, args.strip()


def _exclude(reason: str) -> Handler:
    def run(ctx: Context, args: str) -> str | Reply:
        member, why = _who_and_why(ctx, args)
        if member.name != ctx.member.name and not ctx.is_chair:
            raise CommandError(f"only {member.name} or a chair can declare that")
        standing.exclude(ctx.conn, ctx.case_id, member.name, reason, now=ctx.now, by=ctx.member.name)
        said = f"{member.name} is excluded from this case ({reason}): no more mail of it reaches them"
        others = ctx.others()
        tells: list[Tell] = []
        if others:
            who = "themself" if member.name == ctx.member.name else member.name
            text = (
                f"{ctx.member.name} declared on case {_ref(ctx)}: {who} — {reason}"
                + (f" ({why})" if why else "")
                + ".\n"
                f"{member.name} is excluded from the case: no more of its mail reaches them, they do not vote on"
                " it, and no command of theirs on it is obeyed. A chair can let them back in with /clear NAME."
            )
            tells.append(Tell(others, f"Disclosure: {member.name} ({reason})", text))
            said += "; the other members were told"
        proposal = decisions.open_proposal(ctx.conn, ctx.case_id)
        if proposal is not None and ctx.drafting is not None:
            settled = voting.settle(ctx.conn, ctx.drafting, proposal, by=ctx.member.name, now=ctx.now)
            if settled is not None:
                said += f"; proposal {proposal.id} is now decided: {settled.outcome.value}"
        return Reply(said, tuple(tells))

    return run


def _clear(ctx: Context, args: str) -> str:
    if not ctx.is_chair:
        raise CommandError("only a chair can let an excluded member back into a case")
    member = member_named(ctx, args)
    standing.include(ctx.conn, ctx.case_id, member.name, now=ctx.now, by=ctx.member.name)
    return f"{member.name} takes part in this case again"


def _urgent(ctx: Context, args: str) -> Reply:
    """Every eligible member alerted at once; every pending deadline brought within ``urgent_hours``."""
    reason = args.strip()
    if not reason:
        raise CommandError("say why: /urgent REASON (e.g. threats of violence, ongoing harassment)")
    since, ref = ctx.conn.execute(_URGENT, {"case_id": ctx.case_id}).one()
    if since is None:
        ctx.conn.execute(_SET_CASE, {"case_id": ctx.case_id, "urgent_since": ctx.now, "updated_at": ctx.now})
    hours = _notices(ctx).urgent_hours
    moved = deadlines.shorten(ctx.conn, ctx.case_id, ctx.now + timedelta(hours=hours))
    text = (
        f"{ctx.member.name} marked case {ref} urgent: {reason}\n\n"
        "The manuals let any member act at once when someone's safety is at stake (before the committee"
        " agrees), and ask that member to report what they did within 24 hours: /unilateral WHAT YOU DID.\n"
        f"Every deadline of the case now falls within {hours:g} hours."
    )
    tell = Tell(tuple(m.name for m in ctx.eligible()), f"URGENT: {reason[:80]}", text)
    return Reply(
        f"the case is urgent; every member who may act was alerted; {moved} deadline(s) brought forward", (tell,)
    )


def _unilateral(ctx: Context, args: str) -> Reply:
    what = args.strip()
    if not what:
        raise CommandError("say what you did: /unilateral WHAT YOU DID")
    hours = _notices(ctx).unilateral_report_hours
    seq = ctx.own_entry()
    due = ctx.now + timedelta(hours=hours)
    about = f"unilateral action by {ctx.member.name}: {what[:200]}"
    deadlines.plan(ctx.conn, ctx.case_id, f"unilateral-{seq}", due, about=about, by=ctx.member.name, now=ctx.now)
    text = (
        f"{ctx.member.name} acted alone on case {_ref(ctx)} (before the committee agreed):\n\n  {what}\n\n"
        f"They report it to the committee for review by {due:%Y-%m-%d %H:%M} UTC (/report TEXT);"
        " if they do not, the chairs are alerted."
    )
    tells = (Tell(ctx.others(), f"Unilateral action by {ctx.member.name}", text),) if ctx.others() else ()
    return Reply(
        f"recorded as a unilateral action and disclosed to the committee: report it for review by"
        f" {due:%Y-%m-%d %H:%M} UTC with /report TEXT",
        tells,
    )


def _report(ctx: Context, args: str) -> Reply:
    """The member's report of their unilateral action, for the committee's review: the text after
    the command, or the mail below it (which goes to the other members as any internal mail does)."""
    text = args.strip()
    if not text and not ctx.body.strip():
        raise CommandError("write the report after /report (or below the command line)")
    pending = deadlines.pending(ctx.conn, ctx.case_id, "unilateral-", by=ctx.member.name)
    if not pending:
        raise CommandError("you have no unilateral action on this case waiting for its report (/unilateral first)")
    deadlines.done(ctx.conn, ctx.case_id, *(p.name for p in pending), now=ctx.now)
    if not text or not ctx.others():
        return Reply("your report is recorded; the text below the command goes to the committee for review")
    told = f"{ctx.member.name} reports on their unilateral action on case {_ref(ctx)}, for review:\n\n{text}\n"
    tell = Tell(ctx.others(), f"Report of a unilateral action by {ctx.member.name}", told)
    return Reply("your report is recorded and went to the committee for review", (tell,))


HANDLERS: dict[str, Callable[[Context, str], str | Reply]] = {
    "lead": _assign("lead"),
    "secondary": _assign("secondary"),
    "conflict": _exclude(standing.CONFLICT),
    "recuse": _exclude(standing.RECUSED),
    "clear": _clear,
    "urgent": _urgent,
    "unilateral": _unilateral,
    "report": _report,
}
