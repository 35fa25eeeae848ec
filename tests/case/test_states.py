"""A case's states and the only ways between them (mailflow.case.states).

The README's process: a report opens a case ``new``; the committee works on it (``open``,
``investigating``); a proposal puts it in ``resolution_proposed``; only ``/enact`` of an adopted
resolution makes it ``resolved``; a chair's ``/close REASON`` closes it from anywhere, and a closed
case can only be reopened. Nothing returns to ``new``, and no state "changes" to itself.
"""

from __future__ import annotations

from itertools import product

import pytest
from sqlalchemy import Connection, select

from mailflow.case import service as cases
from mailflow.case import states
from mailflow.case.entries import StateChanged, read
from mailflow.errors import TransitionRefused
from mailflow.model import CaseState, DiaryKind
from mailflow.model import core as t
from tests.support.database import NOW

NEW, OPEN, INVESTIGATING = CaseState.NEW, CaseState.OPEN, CaseState.INVESTIGATING
PROPOSED, RESOLVED, CLOSED = CaseState.RESOLUTION_PROPOSED, CaseState.RESOLVED, CaseState.CLOSED

ALLOWED = {
    (NEW, OPEN),
    (NEW, INVESTIGATING),
    (NEW, PROPOSED),  # a proposal may come before anyone said /state
    (NEW, CLOSED),
    (OPEN, INVESTIGATING),
    (OPEN, PROPOSED),
    (OPEN, CLOSED),
    (INVESTIGATING, OPEN),
    (INVESTIGATING, PROPOSED),
    (INVESTIGATING, CLOSED),
    (PROPOSED, INVESTIGATING),  # the proposal was rejected or withdrawn: back to work
    (PROPOSED, RESOLVED),  # /enact, the only way to resolved
    (PROPOSED, CLOSED),
    (RESOLVED, INVESTIGATING),  # new information after the resolution
    (RESOLVED, CLOSED),
    (CLOSED, OPEN),  # reopened
}
PAIRS = list(product(CaseState, CaseState))


def test_the_table_is_the_one_the_process_describes() -> None:
    assert {(a, b) for a, targets in states.TRANSITIONS.items() for b in targets} == ALLOWED
    assert set(states.TRANSITIONS) == set(CaseState)  # every state has its row, even if it leads nowhere


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=lambda s: s.value)
def test_check_transition_allows_exactly_the_table(current: CaseState, target: CaseState) -> None:
    if (current, target) in ALLOWED:
        states.check_transition(current, target)
    else:
        with pytest.raises(TransitionRefused, match=f"{current.value} cannot become {target.value}"):
            states.check_transition(current, target)


def case_in(conn: Connection, state: CaseState) -> int:
    """A case that is in ``state`` (set directly: how it got there is not what is tested)."""
    case_id = cases.open_case(conn, reporter=None, subject="report", opened_at=NOW).case.id
    conn.execute(t.cases.update().where(t.cases.c.id == case_id).values(state=state))
    return case_id


def diary_of(conn: Connection, case_id: int) -> list[tuple[DiaryKind, str | None, dict[str, str]]]:
    d = t.diary.c
    rows = conn.execute(select(d.kind, d.actor, d.detail).where(d.case_id == case_id).order_by(d.seq))
    return [(DiaryKind(k), actor, detail) for k, actor, detail in rows]


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED), ids=lambda s: s.value)
def test_an_allowed_move_changes_the_state_and_says_why_in_the_diary(
    conn: Connection, current: CaseState, target: CaseState
) -> None:
    case_id = case_in(conn, current)
    # When the case is moved, with a column set alongside,
    previous = states.move(conn, case_id, target, why="the committee said so", by="Ada Chair", now=NOW,
                           resolution="no-action")  # fmt: skip
    # then it is in the new state with the column, and one STATE entry records from where, by whom and why.
    assert previous is current
    assert states.of_case(conn, case_id) is target
    resolution = conn.execute(select(t.cases.c.resolution).where(t.cases.c.id == case_id)).scalar_one()
    assert resolution == "no-action"
    [(kind, actor, detail)] = diary_of(conn, case_id)
    assert (kind, actor) == (DiaryKind.STATE, "Ada Chair")
    assert read(kind, detail) == StateChanged(target.value, current.value, "the committee said so")


@pytest.mark.parametrize(("current", "target"), [p for p in PAIRS if p not in ALLOWED], ids=lambda s: s.value)
def test_a_refused_move_writes_nothing(conn: Connection, current: CaseState, target: CaseState) -> None:
    case_id = case_in(conn, current)
    with pytest.raises(TransitionRefused):
        states.move(conn, case_id, target, why="no", by="Bo Member", now=NOW, resolution="hiatus")
    # The case is as it was: same state, no resolution, no diary entry.
    assert states.of_case(conn, case_id) is current
    assert conn.execute(select(t.cases.c.resolution).where(t.cases.c.id == case_id)).scalar_one() is None
    assert diary_of(conn, case_id) == []


def test_the_reason_is_kept_short(conn: Connection) -> None:
    case_id = case_in(conn, NEW)
    states.move(conn, case_id, OPEN, why="x" * 1000, by="Ada Chair", now=NOW)
    [(_, _, detail)] = diary_of(conn, case_id)
    assert detail["why"] == "x" * 300
