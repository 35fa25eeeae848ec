"""How a proposal is decided (mailflow.case.decisions.Tally.outcome).

Django's enforcement manual: "The working group must agree on a resolution by consensus. Where
consensus cannot be reached, decisions may be made by a two-thirds majority vote of working group
members without a conflict of interest. If the working group cannot reach consensus or a
sufficient majority within a reasonable timeframe, the working group will turn the matter over to
the board for resolution." So:

* consensus: every eligible member voted, nobody no, at least one yes (abstaining stands aside);
* else two thirds: yes from at least two thirds of the ELIGIBLE members, not of the votes cast;
* rejected as soon as neither can be reached any more;
* when the time runs out (``closing``): two thirds, else escalated to the board.
"""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from mailflow.case import decisions, standing
from mailflow.case import service as cases
from mailflow.case.decisions import Outcome, Proposal, ProposalState, Tally
from mailflow.parse.message import Address
from tests.support.database import NOW

MEMBERS = ("Ada", "Bo", "Cy", "Di", "Ed", "Flo")


def proposal(eligible: tuple[str, ...]) -> Proposal:
    return Proposal(1, 1, "private-reprimand", "A private reprimand.", "Ada", NOW, ProposalState.OPEN, None, eligible)


def tally(eligible: tuple[str, ...], **votes: str) -> Tally:
    """The tally of ``eligible`` members, ``votes`` by name (members not named have not voted)."""
    return Tally(proposal(eligible), eligible, {m: (c, "") for m, c in votes.items()})


# -- consensus -----------------------------------------------------------------------------------


def test_consensus_once_everyone_voted_yes() -> None:
    assert tally(MEMBERS[:3], Ada="yes", Bo="yes", Cy="yes").outcome() is Outcome.CONSENSUS


def test_abstaining_stands_aside_from_a_consensus() -> None:
    assert tally(MEMBERS[:3], Ada="yes", Bo="abstain", Cy="abstain").outcome() is Outcome.CONSENSUS


def test_no_consensus_without_a_single_yes() -> None:
    # Given three members who all abstained, nothing was agreed: neither consensus nor two thirds.
    assert tally(MEMBERS[:3], Ada="abstain", Bo="abstain", Cy="abstain").outcome() is Outcome.REJECTED


def test_a_consensus_waits_for_every_eligible_member() -> None:
    # Given two of three members voted yes and nobody no, the third may still vote: it stays open.
    assert tally(MEMBERS[:3], Ada="yes", Bo="yes").outcome() is None


def test_a_single_no_is_no_consensus() -> None:
    # Three yes and one no of four: two thirds of four is three, so it is adopted by majority instead.
    assert tally(MEMBERS[:4], Ada="yes", Bo="yes", Cy="yes", Di="no").outcome() is Outcome.TWO_THIRDS


# -- two thirds of the eligible members --------------------------------------------------------


@pytest.mark.parametrize(("eligible", "needed"), [(1, 1), (2, 2), (3, 2), (4, 3), (5, 4), (6, 4), (7, 5), (9, 6)])
def test_two_thirds_is_counted_on_the_eligible_members(eligible: int, needed: int) -> None:
    assert tally(tuple(f"m{i}" for i in range(eligible))).needed == needed


def test_two_thirds_of_the_votes_cast_is_not_enough() -> None:
    # Given six eligible members (two thirds: four), three yes and one no, two not voted,
    undecided = tally(MEMBERS, Ada="yes", Bo="yes", Cy="yes", Di="no")
    # while time remains it is open (the two may still vote yes),
    assert undecided.outcome() is None
    # and when the time runs out, three yes of four votes cast (75 %) is not two thirds of six.
    assert undecided.outcome(closing=True) is Outcome.ESCALATED


def test_two_thirds_when_everyone_voted_and_someone_said_no() -> None:
    assert tally(MEMBERS[:3], Ada="yes", Bo="yes", Cy="no").outcome() is Outcome.TWO_THIRDS


def test_two_thirds_reached_before_the_last_votes_waits_for_them_while_time_remains() -> None:
    """A consensus is still possible while someone has not voted, so the vote stays open."""
    reached = tally(MEMBERS, Ada="yes", Bo="yes", Cy="yes", Di="yes", Ed="no")
    assert reached.outcome() is None
    assert reached.outcome(closing=True) is Outcome.TWO_THIRDS


# -- rejection -----------------------------------------------------------------------------------


def test_rejected_as_soon_as_neither_can_be_reached() -> None:
    # Given six eligible members (two thirds: four): three no already, so at most three yes remain possible,
    assert tally(MEMBERS, Ada="no", Bo="no", Cy="no").outcome() is Outcome.REJECTED


def test_not_rejected_while_two_thirds_can_still_be_reached() -> None:
    # Two no of six: the four others may still make two thirds.
    assert tally(MEMBERS, Ada="no", Bo="no").outcome() is None


def test_rejected_when_everyone_voted_without_two_thirds() -> None:
    assert tally(MEMBERS[:3], Ada="yes", Bo="no", Cy="abstain").outcome() is Outcome.REJECTED


# -- closing: the time ran out ---------------------------------------------------------------------


def test_closing_without_two_thirds_goes_to_the_board() -> None:
    assert tally(MEMBERS[:3], Ada="yes").outcome(closing=True) is Outcome.ESCALATED
    assert tally(MEMBERS[:3]).outcome(closing=True) is Outcome.ESCALATED


def test_closing_with_two_thirds_adopts_it() -> None:
    assert tally(MEMBERS[:3], Ada="yes", Bo="yes").outcome(closing=True) is Outcome.TWO_THIRDS


def test_closing_does_not_undo_a_decision_the_votes_made() -> None:
    assert tally(MEMBERS[:2], Ada="yes", Bo="yes").outcome(closing=True) is Outcome.CONSENSUS
    assert tally(MEMBERS, Ada="no", Bo="no", Cy="no").outcome(closing=True) is Outcome.REJECTED


# -- nobody eligible -------------------------------------------------------------------------------


def test_with_nobody_eligible_it_waits_then_goes_to_the_board() -> None:
    """Every member excluded (a conflict each): nobody can decide, so the board will."""
    nobody = tally(())
    assert nobody.needed == 0
    assert nobody.outcome() is None
    assert nobody.outcome(closing=True) is Outcome.ESCALATED


# -- any votes at all: hypothesis ----------------------------------------------------------------

CHOICE = st.sampled_from(["yes", "no", "abstain", None])  # None: not voted


@settings(deadline=None)  # no timing asserted: a slow machine is not a wrong outcome
@given(choices=st.lists(CHOICE, max_size=12), closing=st.booleans())
def test_outcomes_agree_with_the_manual_for_any_votes(choices: list[str | None], closing: bool) -> None:
    members = tuple(f"member-{i}" for i in range(len(choices)))
    voted = {m: (c, "") for m, c in zip(members, choices, strict=True) if c is not None}
    result = Tally(proposal(members), members, voted)
    outcome = result.outcome(closing=closing)
    n = len(members)
    yes, no = choices.count("yes"), choices.count("no")
    missing = choices.count(None)
    if outcome in (Outcome.CONSENSUS, Outcome.TWO_THIRDS):
        assert yes >= 1  # nothing is adopted without a single yes
    if outcome is Outcome.CONSENSUS:
        assert no == 0 and missing == 0  # everyone voted, nobody objected
    if outcome is Outcome.TWO_THIRDS:
        assert yes >= math.ceil(2 * n / 3)  # of the eligible members, not of the votes cast
    if outcome is Outcome.REJECTED:
        assert yes + missing < math.ceil(2 * n / 3)  # two thirds cannot be reached any more
        assert no > 0 or (missing == 0 and yes == 0)  # nor a consensus
    if closing:
        assert outcome is not None  # when its time runs out, a proposal is always decided
    if outcome is Outcome.ESCALATED:
        assert closing


# -- on the database: a member excluded after the proposal -----------------------------------------


def test_a_member_excluded_after_the_proposal_no_longer_counts(conn: Connection) -> None:
    # Given a case, a proposal with three eligible members, two yes and one no,
    case = cases.open_case(conn, reporter=Address("", "jane@example.net"), subject="report", opened_at=NOW)
    case_id = case.case.id
    made = decisions.propose(conn, case_id, "private-reprimand", "A private reprimand.", by="Ada",
                             eligible=["Cy", "Ada", "Bo"], now=NOW)  # fmt: skip
    assert made.eligible == ("Ada", "Bo", "Cy")
    assert decisions.vote(conn, made, "Ada", "yes", "", now=NOW) is False
    decisions.vote(conn, made, "Bo", "yes", "", now=NOW)
    decisions.vote(conn, made, "Cy", "no", "I disagree", now=NOW)
    before = decisions.tally(conn, made, standing.excluded(conn, case_id))
    assert before.outcome() is Outcome.TWO_THIRDS and before.dropped == ()
    # when Cy declares a conflict afterwards,
    standing.exclude(conn, case_id, "Cy", standing.CONFLICT, now=NOW + timedelta(hours=1), by="Cy")
    after = decisions.tally(conn, made, standing.excluded(conn, case_id))
    # then Cy's vote no longer counts: the two yes of the two eligible members are a consensus.
    assert after.eligible == ("Ada", "Bo")
    assert after.votes == {"Ada": ("yes", ""), "Bo": ("yes", "")}
    assert after.dropped == ("Cy",)
    assert after.outcome() is Outcome.CONSENSUS
    assert "excluded since it was proposed (their votes do not count): Cy" in "\n".join(after.lines())


def test_a_changed_vote_replaces_the_earlier_one(conn: Connection) -> None:
    case = cases.open_case(conn, reporter=None, subject="report", opened_at=NOW)
    made = decisions.propose(conn, case.case.id, "no-action", "Nothing.", by="Ada", eligible=["Ada", "Bo"], now=NOW)
    decisions.vote(conn, made, "Bo", "no", "", now=NOW)
    assert decisions.vote(conn, made, "Bo", "yes", "convinced", now=NOW) is True
    assert decisions.tally(conn, made, frozenset()).votes == {"Bo": ("yes", "convinced")}


def test_a_proposal_is_decided_once(conn: Connection) -> None:
    """Two workers closing the same vote: the second finds it decided already."""
    case = cases.open_case(conn, reporter=None, subject="report", opened_at=NOW)
    made = decisions.propose(conn, case.case.id, "no-action", "Nothing.", by="Ada", eligible=["Ada"], now=NOW)
    assert decisions.open_proposal(conn, case.case.id) == made
    assert decisions.decide(conn, made, ProposalState.ADOPTED, now=NOW) is True
    assert decisions.decide(conn, made, ProposalState.ESCALATED, now=NOW) is False
    decided = decisions.get(conn, made.id)
    assert decided is not None and decided.state is ProposalState.ADOPTED
    assert decisions.open_proposal(conn, case.case.id) is None
