"""Deciding a case by mail: propose, vote, enact, close - the only way a case is resolved.

* ``/propose TYPE TEXT``: a resolution of the manuals' list (:data:`mailflow.case.decisions.RESOLUTIONS`)
  for the committee's vote; the proposer's own vote is yes. An apology request needs every
  reporter's agreement first (Jupyter: "assuming the reporter agrees to this idea"); a mediation
  under way needs the mediator's report, vetted by every party.
* ``/vote yes|no|abstain [WHY]``: members not excluded from the case when it was proposed, and not
  since; consensus, else two thirds of them (Django), else the board when time runs out.
* ``/withdraw``: the proposer or a chair takes the open proposal back.
* ``/enact``: the adopted resolution is carried out, once the reporter's feedback was asked for
  and answered (or its window closed) and the reported person was offered a right of reply (or a
  chair recorded why not). Only then is a case ``resolved``.
* ``/state open|investigating``: where the work is; ``resolved`` is reached by ``/enact`` only,
  ``closed`` by a chair's ``/close REASON`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Select, bindparam, select

from mailflow.case import deadlines, diary, parties, standing, states
from mailflow.case import decisions as votes
from mailflow.case.entries import Decided, Proposed, Voted
from mailflow.case.states import TransitionRefused
from mailflow.committee import mediation, voting
from mailflow.committee.context import CommandError, Context, Reply, Tell
from mailflow.config import NoticeSettings
from mailflow.drafting import feedback
from mailflow.model import CaseState, PartyRole
from mailflow.model import core as t

_c = t.cases.c
_CASE: Select[str, str, str | None, datetime | None] = select(_c.ref, _c.state, _c.resolution, _c.urgent_since).where(
    _c.id == bindparam("case_id")
)
_RESOLVED_AT: Select[datetime | None] = select(_c.resolved_at).where(_c.id == bindparam("case_id"))
_SET_CASE = t.cases.update().where(_c.id == bindparam("case_id"))
_UNDECIDED = (CaseState.NEW, CaseState.OPEN, CaseState.INVESTIGATING)


def _notices(ctx: Context) -> NoticeSettings:
    return ctx.drafting.settings.notices if ctx.drafting else NoticeSettings()


def _propose(ctx: Context, args: str) -> Reply:
    kind, _, text = args.strip().partition(" ")
    kind = kind.lower()
    if kind not in votes.RESOLUTIONS:
        raise CommandError(f"say which resolution: /propose TYPE TEXT (TYPE: {', '.join(votes.RESOLUTIONS)})")
    ref, state, _resolution, urgent = ctx.conn.execute(_CASE, {"case_id": ctx.case_id}).one()
    if CaseState(state) not in _UNDECIDED:
        raise CommandError(
            f"the case is {state}: a resolution is proposed while it is open or investigating"
            " (/state investigating reopens the decision)"
        )
    if (open_one := votes.open_proposal(ctx.conn, ctx.case_id)) is not None:
        raise CommandError(f"proposal {open_one.id} ({open_one.resolution}) is still open: vote on it, or /withdraw it")
    if kind == "apology-request":
        reporters = [p for p in parties.of_case(ctx.conn, ctx.case_id) if p.role is PartyRole.REPORTER]
        waiting = [p.shown for p in reporters if p.apology_consent_seq is None]
        if not reporters or waiting:
            raise CommandError(
                "an apology is asked for only if the reporter agrees (Jupyter); not yet agreed: "
                f"{', '.join(waiting) or 'no reporter is a party of the case'} (/agree NAME apology ENTRY)"
            )
    if (why := mediation.blocks_decision(ctx)) is not None:
        raise CommandError(why)
    if ctx.drafting is None:
        raise CommandError("decisions cannot be taken here")
    eligible = [m.name for m in ctx.eligible()]
    out = standing.of_case(ctx.conn, ctx.case_id)
    excluded = tuple(f"{s.member}: {s.reason}" for s in out.values() if s.excluded)
    proposal = votes.propose(ctx.conn, ctx.case_id, kind, text.strip(), by=ctx.member.name, eligible=eligible,
                             now=ctx.now)  # fmt: skip
    entry = Proposed(proposal.id, kind, text.strip()[:1000], tuple(eligible), excluded)
    diary.append(ctx.conn, ctx.case_id, entry, at=ctx.now, actor=ctx.member.name)
    notices = _notices(ctx)
    period = timedelta(hours=notices.urgent_hours) if urgent else timedelta(days=notices.deadlock_days)
    due = ctx.now + period
    about = f"the vote on proposal {proposal.id} ({kind}): undecided, it goes to the board"
    deadlines.plan(ctx.conn, ctx.case_id, proposal.deadline, due, about=about, by=ctx.member.name, now=ctx.now)
    votes.vote(ctx.conn, proposal, ctx.member.name, "yes", "proposed it", now=ctx.now)
    said = (
        f"proposal {proposal.id}: {kind}; your vote is yes; {len(eligible)} member(s) may vote until"
        f" {due:%Y-%m-%d %H:%M} UTC"
    )
    settled = voting.settle(ctx.conn, ctx.drafting, proposal, by=ctx.member.name, now=ctx.now)
    if settled is not None:
        return Reply(f"{said}; decided at once: {settled.said}")
    text_block = f"\n\n  {text.strip()}\n" if text.strip() else "\n"
    body = (
        f"{ctx.member.name} proposes a resolution on case {ref}: {kind}.{text_block}\n"
        "Vote by writing to the case's internal address (Reply-To of this mail), on the first line:\n"
        "  /vote yes [WHY]    /vote no [WHY]    /vote abstain [WHY]\n\n"
        f"Eligible (not excluded from the case): {', '.join(eligible)}.\n"
        f"Consensus adopts it; else two thirds of the eligible members ({votes.Tally(proposal, tuple(eligible)).needed}"
        f" yes votes). Undecided by {due:%Y-%m-%d %H:%M} UTC, the matter goes to the board.\n"
    )
    tells = (Tell(ctx.others(), f"Vote: {kind} (proposal {proposal.id})", body),) if ctx.others() else ()
    return Reply(said, tells)


def _vote(ctx: Context, args: str) -> str:
    choice, _, why = args.strip().partition(" ")
    choice = choice.lower()
    if choice not in votes.CHOICES:
        raise CommandError("/vote yes|no|abstain [WHY]")
    proposal = votes.open_proposal(ctx.conn, ctx.case_id)
    if proposal is None:
        raise CommandError("no proposal is open on this case (/propose TYPE TEXT)")
    tally = votes.tally(ctx.conn, proposal, standing.excluded(ctx.conn, ctx.case_id))
    if ctx.member.name not in tally.eligible:
        raise CommandError(
            f"{ctx.member.name} may not vote on proposal {proposal.id}: only members without a conflict on the case"
            " when it was proposed, and not excluded since, vote (Django)"
        )
    changed = votes.vote(ctx.conn, proposal, ctx.member.name, choice, why.strip(), now=ctx.now)
    entry = Voted(proposal.id, choice, why.strip()[:500], changed)
    diary.append(ctx.conn, ctx.case_id, entry, at=ctx.now, actor=ctx.member.name)
    assert ctx.drafting is not None
    settled = voting.settle(ctx.conn, ctx.drafting, proposal, by=ctx.member.name, now=ctx.now)
    if settled is not None:
        return f"vote recorded ({choice}); proposal {proposal.id} is decided: {settled.outcome.value}"
    tally = votes.tally(ctx.conn, proposal, standing.excluded(ctx.conn, ctx.case_id))
    return "\n".join([f"vote recorded ({choice}){' (changed)' if changed else ''}", *tally.lines()])


def _withdraw(ctx: Context, args: str) -> Reply:
    proposal = votes.open_proposal(ctx.conn, ctx.case_id)
    if proposal is None:
        raise CommandError("no proposal is open on this case")
    if ctx.member.name != proposal.proposed_by and not ctx.is_chair:
        raise CommandError(f"only {proposal.proposed_by} (who proposed it) or a chair can withdraw it")
    votes.decide(ctx.conn, proposal, votes.ProposalState.WITHDRAWN, now=ctx.now)
    deadlines.done(ctx.conn, ctx.case_id, proposal.deadline, now=ctx.now)
    entry = Decided(proposal.id, proposal.resolution, "withdrawn")
    diary.append(ctx.conn, ctx.case_id, entry, at=ctx.now, actor=ctx.member.name)
    text = f"{ctx.member.name} withdrew proposal {proposal.id} ({proposal.resolution}). {args.strip()}\n"
    tells = (Tell(ctx.others(), f"Proposal {proposal.id} withdrawn", text),) if ctx.others() else ()
    return Reply(f"proposal {proposal.id} is withdrawn", tells)


def _enact(ctx: Context, args: str) -> str:
    _ref, state, resolution, _ = ctx.conn.execute(_CASE, {"case_id": ctx.case_id}).one()
    if resolution is None or CaseState(state) is not CaseState.RESOLUTION_PROPOSED:
        raise CommandError(
            "no resolution is adopted: the committee proposes one (/propose TYPE TEXT) and decides it by vote"
        )
    status = feedback.state(ctx.conn, ctx.case_id, timedelta(days=_notices(ctx).feedback_window_days))
    why_not = status.may_enact(ctx.now)
    if why_not:
        raise CommandError(why_not)
    said = ", ".join(f"{a} (diary entry {seq})" for a, seq in status.answered.items()) or "nobody answered"
    states.move(ctx.conn, ctx.case_id, CaseState.RESOLVED, why=f"{resolution} enacted", by=ctx.member.name,
                now=ctx.now, resolved_at=ctx.now, enacted_at=ctx.now)  # fmt: skip
    return f"the resolution ({resolution}) is enacted and the case resolved; feedback: {said}"


def _state(ctx: Context, args: str) -> str:
    try:
        target = CaseState(args.strip().lower().replace(" ", "_"))
    except ValueError:
        raise CommandError(f"unknown state {args!r} (one of: {', '.join(s.value for s in CaseState)})") from None
    if target is CaseState.RESOLVED:
        raise CommandError("a case is resolved only by /enact, once its adopted resolution passed feedback")
    if target is CaseState.CLOSED:
        raise CommandError("a chair closes a case, with the reason: /close REASON")
    if target is CaseState.RESOLUTION_PROPOSED:
        raise CommandError("a resolution is proposed with /propose TYPE TEXT and adopted by the committee's vote")
    resolution = ctx.conn.execute(_CASE, {"case_id": ctx.case_id}).one()[2]
    try:
        states.move(ctx.conn, ctx.case_id, target, why=f"/state by {ctx.member.name}", by=ctx.member.name,
                    now=ctx.now, resolution=None)  # fmt: skip
    except TransitionRefused as exc:
        raise CommandError(str(exc)) from None
    if resolution is not None:
        return f"the case is now {target.value}; the adopted resolution ({resolution}) no longer stands"
    return f"the case is now {target.value}"


def _close(ctx: Context, args: str) -> Reply:
    if not ctx.is_chair:
        raise CommandError("only a chair can close a case")
    reason = args.strip()
    if not reason:
        raise CommandError("say why: /close REASON (e.g. enacted and reported to the board; outside our remit)")
    ref, current, _resolution, _ = ctx.conn.execute(_CASE, {"case_id": ctx.case_id}).one()
    resolved_at = ctx.conn.execute(_RESOLVED_AT, {"case_id": ctx.case_id}).scalar()
    try:
        states.move(
            ctx.conn, ctx.case_id, CaseState.CLOSED, why=reason, by=ctx.member.name, now=ctx.now,
            resolved_at=resolved_at or ctx.now,
        )  # fmt: skip
    except TransitionRefused as exc:
        raise CommandError(str(exc)) from None
    for proposal in [p for p in [votes.open_proposal(ctx.conn, ctx.case_id)] if p is not None]:
        votes.decide(ctx.conn, proposal, votes.ProposalState.WITHDRAWN, now=ctx.now)
    text = f"{ctx.member.name} closed case {ref} (it was {current}): {reason}\n"
    tells = (Tell(ctx.others(), "Case closed", text),) if ctx.others() else ()
    return Reply(f"the case is closed: {reason}", tells)


def _no_right_of_reply(ctx: Context, args: str) -> str:
    if not ctx.is_chair:
        raise CommandError("only a chair can record why the reported person is not offered a reply")
    if not args.strip():
        raise CommandError("say why: /no-right-of-reply REASON (e.g. physical safety)")
    ctx.conn.execute(_SET_CASE, {"case_id": ctx.case_id, "right_of_reply_waived_seq": ctx.own_entry()})
    return "recorded: the reported person is not offered a right of reply"


def _deadlock(ctx: Context, args: str) -> str:
    """No consensus in sight, with or without a proposal: the board gets the matter after the days."""
    days = _notices(ctx).deadlock_days
    seq = ctx.own_entry()
    about = f"deadlock marked by {ctx.member.name}: {args.strip()[:200]}".rstrip(": ")
    deadlines.plan(ctx.conn, ctx.case_id, f"deadlock-{seq}", ctx.now + timedelta(days=days), about=about,
                   by=ctx.member.name, now=ctx.now)  # fmt: skip
    return f"no consensus recorded: an escalation to the board is drafted after {days:g} days unless it is decided"


HANDLERS: dict[str, Callable[[Context, str], str | Reply]] = {
    "propose": _propose,
    "vote": _vote,
    "withdraw": _withdraw,
    "enact": _enact,
    "state": _state,
    "close": _close,
    "no-right-of-reply": _no_right_of_reply,
    "deadlock": _deadlock,
}
