"""What a decided vote does: adopt the resolution, reject it, or turn the matter over to the board.

Called after every vote, after a member is excluded (they no longer count), and when the vote's
deadline fires (``closing``): the rules of counting are in :mod:`mailflow.case.decisions`, what
follows from them is here. An adopted resolution becomes the case's (``cases.resolution``) and the
case's state ``resolution_proposed``: from then on the feedback request and the right of reply
can go out, and ``/enact`` can follow (Jupyter: "Once a resolution is agreed upon, but before it
is enacted, the committee will contact the original reporter and any other affected parties").
Every eligible member is told the outcome with the tally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import deadlines, decisions, diary, standing, states
from mailflow.case import service as cases
from mailflow.case.decisions import Outcome, Proposal, ProposalState, Tally
from mailflow.case.entries import Decided
from mailflow.config import Settings
from mailflow.drafting import approval, drafts
from mailflow.drafting.context import DraftingContext
from mailflow.model import CaseState
from mailflow.model import core as t
from mailflow.outbound.to_members import to_members

_STATES = {
    Outcome.CONSENSUS: ProposalState.ADOPTED,
    Outcome.TWO_THIRDS: ProposalState.ADOPTED,
    Outcome.REJECTED: ProposalState.REJECTED,
    Outcome.ESCALATED: ProposalState.ESCALATED,
}
_REF: Select[str] = select(t.cases.c.ref).where(t.cases.c.id == bindparam("case_id"))


@dataclass(frozen=True, slots=True)
class Settled:
    tally: Tally
    outcome: Outcome
    said: str


def settle(
    conn: Connection,
    ctx: DraftingContext,
    proposal: Proposal,
    *,
    by: str,
    now: datetime,
    closing: bool = False,
) -> Settled | None:
    """Decide ``proposal`` if its votes (or its time running out) decide it; None while open."""
    tally = decisions.tally(conn, proposal, standing.excluded(conn, proposal.case_id))
    outcome = tally.outcome(closing=closing)
    if outcome is None or not decisions.decide(conn, proposal, _STATES[outcome], now=now):
        return None
    votes = {c: tuple(m for m, (v, _) in tally.votes.items() if v == c) for c in decisions.CHOICES}
    entry = Decided(
        proposal.id, proposal.resolution, outcome.value, votes["yes"], votes["no"], votes["abstain"],
        tally.missing, len(tally.eligible),
    )  # fmt: skip
    diary.append(conn, proposal.case_id, entry, at=now, actor=by)
    deadlines.done(conn, proposal.case_id, proposal.deadline, now=now)
    said = _follow(conn, ctx, proposal, outcome, by=by, now=now)
    tally = replace(tally, proposal=decisions.get(conn, proposal.id) or proposal)
    _tell(conn, ctx.settings, ctx.roster, proposal, tally, outcome, said, now)
    return Settled(tally, outcome, said)


def _follow(
    conn: Connection, ctx: DraftingContext, proposal: Proposal, outcome: Outcome, *, by: str, now: datetime
) -> str:
    if outcome in (Outcome.CONSENSUS, Outcome.TWO_THIRDS):
        current = states.of_case(conn, proposal.case_id)
        why = f"proposal {proposal.id} ({proposal.resolution}) adopted by {outcome.value}"
        if current is CaseState.RESOLUTION_PROPOSED:
            conn.execute(
                t.cases.update().where(t.cases.c.id == proposal.case_id),
                {"resolution": proposal.resolution, "updated_at": now},
            )
        else:
            states.move(
                conn, proposal.case_id, CaseState.RESOLUTION_PROPOSED, why=why, by=by, now=now,
                resolution=proposal.resolution,
            )  # fmt: skip
        return (
            f"the resolution {proposal.resolution} is adopted. Before it is enacted: a feedback request to the"
            " reporter (/draft reporter/feedback-request) and a right of reply for the reported person"
            " (/draft reported/right-of-reply, or a chair's /no-right-of-reply REASON); then /enact."
        )
    if outcome is Outcome.REJECTED:
        return "the proposal is not adopted: neither consensus nor a two-thirds majority can be reached."
    try:
        with conn.begin_nested():
            values = {"kind": "escalation", "summary": drafts.PLACEHOLDER, "decision": drafts.PLACEHOLDER}
            draft = approval.ask(
                conn, ctx, proposal.case_id, "board/report", owner="mailflow", values=values, now=now,
                detail={"proposal": proposal.id},
            )  # fmt: skip
        return f"no consensus or two-thirds majority in time: a report to the board is drafted (draft {draft.id})."
    except drafts.DraftError as exc:
        return f"no consensus or two-thirds majority in time; the report to the board could not be drafted: {exc}"


def _tell(
    conn: Connection,
    settings: Settings,
    roster: Sequence[RosterMember],
    proposal: Proposal,
    tally: Tally,
    outcome: Outcome,
    said: str,
    now: datetime,
) -> None:
    members = [m for m in roster if m.name in tally.eligible]
    if not members:
        return
    ref = conn.execute(_REF, {"case_id": proposal.case_id}).scalar_one()
    text = "\n".join([f"Proposal {proposal.id} on case {ref}: {outcome.value}.", "", *tally.lines(), "", said])
    case = cases.CaseRef(proposal.case_id, ref)
    subject = f"Decision: {proposal.resolution} ({outcome.value})"
    to_members(conn, settings, case, members, subject, text, now=now, automatic="auto-generated")
