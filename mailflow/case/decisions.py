"""The committee's decisions on a case: a proposed resolution, the members' votes, the outcome.

Django's enforcement manual: "The working group must agree on a resolution by consensus. Where
consensus cannot be reached, decisions may be made by a two-thirds majority vote of working group
members without a conflict of interest. If the working group cannot reach consensus or a
sufficient majority within a reasonable timeframe, the working group will turn the matter over to
the board for resolution." Jupyter's gives the timeframe: a deadlock "for over a week".

So a proposal records who was eligible when it was made (the members not excluded from the case);
a member excluded later no longer counts. It is decided:

* by **consensus** once every eligible member voted and nobody voted no (abstaining is standing
  aside; at least one yes);
* else by a **two-thirds majority**: yes votes from at least two thirds of the eligible members
  (not of the votes cast), once everyone voted or when the time for it runs out;
* **rejected** as soon as neither can be reached any more;
* **escalated** to the board when its time runs out undecided.

The response types are the Jupyter manual's list of possible responses (its mediation is run with
``/mediation`` and the parties' agreement, not voted as a resolution) and match the notices
``reported/resolution-TYPE``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.model import core as t

RESOLUTIONS: tuple[str, ...] = (
    "no-action",
    "public-reminder",
    "private-reprimand",
    "public-reprimand",
    "apology-request",
    "hiatus",
    "temporary-ban",
    "permanent-ban",
)
"""Jupyter's possible responses, in the order of its list (the Django ladder climbs the same way)."""

CHOICES = ("yes", "no", "abstain")


class ProposalState(StrEnum):
    OPEN = "open"
    ADOPTED = "adopted"
    REJECTED = "rejected"
    ESCALATED = "escalated"
    WITHDRAWN = "withdrawn"


class Outcome(StrEnum):
    CONSENSUS = "consensus"
    TWO_THIRDS = "two-thirds majority"
    REJECTED = "rejected"
    ESCALATED = "escalated to the board"


_p, _v = t.proposal.c, t.vote.c
_COLUMNS = (
    _p.id,
    _p.case_id,
    _p.resolution,
    _p.text,
    _p.proposed_by,
    _p.proposed_at,
    _p.state,
    _p.decided_at,
    _p.eligible,
)
_OPEN = select(*_COLUMNS).where(_p.case_id == bindparam("case_id"), _p.state == ProposalState.OPEN)
_ONE = select(*_COLUMNS).where(_p.id == bindparam("proposal_id"))
_OF_CASE = select(*_COLUMNS).where(_p.case_id == bindparam("case_id")).order_by(_p.id)
_INSERT = t.proposal.insert().returning(_p.id)
_DECIDE = (
    t.proposal.update()
    .where(_p.id == bindparam("proposal_id"), _p.state == ProposalState.OPEN)
    .values(state=bindparam("new_state"), decided_at=bindparam("now"))
)
_VOTES: Select[str, str, str] = select(_v.member, _v.choice, _v.why).where(_v.proposal_id == bindparam("proposal_id"))
_VOTE_ROW = select(_v.id).where(_v.proposal_id == bindparam("proposal_id"), _v.member == bindparam("member"))
_VOTE_INSERT = t.vote.insert()
_VOTE_UPDATE = t.vote.update().where(_v.id == bindparam("vote_id"))


@dataclass(frozen=True, slots=True)
class Proposal:
    id: int
    case_id: int
    resolution: str
    text: str
    proposed_by: str
    proposed_at: datetime
    state: ProposalState
    decided_at: datetime | None
    eligible: tuple[str, ...]
    """Who could vote when it was proposed."""

    @property
    def deadline(self) -> str:
        """The name of its deadline: undecided by then, it goes to the board."""
        return f"vote-{self.id}"


@dataclass(frozen=True, slots=True)
class Tally:
    proposal: Proposal
    eligible: tuple[str, ...]
    """Who may vote now: eligible when proposed and not excluded since."""
    votes: dict[str, tuple[str, str]] = field(default_factory=dict)
    """member -> (choice, why), of the eligible members only."""
    dropped: tuple[str, ...] = ()
    """Eligible when proposed, excluded since (conflict, recusal): their votes do not count."""

    def count(self, choice: str) -> int:
        return sum(1 for c, _ in self.votes.values() if c == choice)

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(m for m in self.eligible if m not in self.votes)

    @property
    def needed(self) -> int:
        """Yes votes for a two-thirds majority of the eligible members."""
        return math.ceil(2 * len(self.eligible) / 3)

    def outcome(self, *, closing: bool = False) -> Outcome | None:
        """The decision the votes make, or None while it is open. ``closing``: its time ran out."""
        yes, no = self.count("yes"), self.count("no")
        if not self.eligible:
            return Outcome.ESCALATED if closing else None
        if not self.missing:
            if no == 0 and yes > 0:
                return Outcome.CONSENSUS
            return Outcome.TWO_THIRDS if yes >= self.needed else Outcome.REJECTED
        if no > 0 and yes + len(self.missing) < self.needed:
            return Outcome.REJECTED  # neither consensus nor two thirds can be reached any more
        if closing:
            return Outcome.TWO_THIRDS if yes >= self.needed else Outcome.ESCALATED
        return None

    def lines(self) -> list[str]:
        """The tally as the diary, ``cases show`` and members' mail put it."""
        p = self.proposal
        out = [
            f"proposal {p.id}: {p.resolution}, by {p.proposed_by} on {p.proposed_at:%Y-%m-%d %H:%M} UTC ({p.state})",
            f"  eligible ({len(self.eligible)}, not excluded from the case): {', '.join(self.eligible) or 'nobody'}",
            f"  yes {self.count('yes')}, no {self.count('no')}, abstain {self.count('abstain')},"
            f" not voted {len(self.missing)}; two thirds is {self.needed}",
        ]
        out += [f"  {m}: {c}" + (f" ({why})" if why else "") for m, (c, why) in self.votes.items()]
        if self.dropped:
            out.append(f"  excluded since it was proposed (their votes do not count): {', '.join(self.dropped)}")
        return out


def _proposal(row: object) -> Proposal:
    m = row._mapping  # type: ignore[attr-defined]
    return Proposal(
        m["id"], m["case_id"], m["resolution"], m["text"], m["proposed_by"], m["proposed_at"],
        ProposalState(m["state"]), m["decided_at"], tuple(m["eligible"] or ()),
    )  # fmt: skip


def open_proposal(conn: Connection, case_id: int) -> Proposal | None:
    row = conn.execute(_OPEN, {"case_id": case_id}).first()
    return _proposal(row) if row else None


def get(conn: Connection, proposal_id: int) -> Proposal | None:
    row = conn.execute(_ONE, {"proposal_id": proposal_id}).first()
    return _proposal(row) if row else None


def of_case(conn: Connection, case_id: int) -> list[Proposal]:
    return [_proposal(row) for row in conn.execute(_OF_CASE, {"case_id": case_id})]


def propose(
    conn: Connection, case_id: int, resolution: str, text: str, *, by: str, eligible: Iterable[str], now: datetime
) -> Proposal:
    proposal_id: int = conn.execute(
        _INSERT,
        {
            "case_id": case_id,
            "resolution": resolution,
            "text": text[:4000],
            "proposed_by": by,
            "proposed_at": now,
            "state": ProposalState.OPEN,
            "eligible": sorted(eligible),
        },
    ).scalar_one()
    found = get(conn, proposal_id)
    assert found is not None
    return found


def vote(conn: Connection, proposal: Proposal, member: str, choice: str, why: str, *, now: datetime) -> bool:
    """Record (or change) a member's vote; True when it changed an earlier one."""
    row = conn.execute(_VOTE_ROW, {"proposal_id": proposal.id, "member": member}).first()
    values = {"choice": choice, "why": why[:1000], "at": now}
    if row is None:
        conn.execute(_VOTE_INSERT, {"proposal_id": proposal.id, "member": member, **values})
        return False
    conn.execute(_VOTE_UPDATE, {"vote_id": row[0], **values})
    return True


def tally(conn: Connection, proposal: Proposal, excluded: frozenset[str]) -> Tally:
    eligible = tuple(m for m in proposal.eligible if m not in excluded)
    votes = {m: (c, w) for m, c, w in conn.execute(_VOTES, {"proposal_id": proposal.id}) if m in eligible}
    ordered = {m: votes[m] for m in eligible if m in votes}
    dropped = tuple(m for m in proposal.eligible if m in excluded)
    return Tally(proposal, eligible, ordered, dropped)


def decide(conn: Connection, proposal: Proposal, state: ProposalState, *, now: datetime) -> bool:
    """Close an open proposal; False when it was decided meanwhile (another worker got there)."""
    done = conn.execute(_DECIDE, {"proposal_id": proposal.id, "new_state": state, "now": now})
    return bool(done.rowcount)
