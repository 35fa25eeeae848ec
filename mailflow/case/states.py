"""Case states and the transitions allowed between them: one explicit table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from mailflow.case import diary
from mailflow.case.entries import StateChanged
from mailflow.errors import (
    TransitionRefused,
)
from mailflow.model import CaseState
from mailflow.model import core as t

TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.NEW: frozenset(
        {CaseState.OPEN, CaseState.INVESTIGATING, CaseState.RESOLUTION_PROPOSED, CaseState.CLOSED}
    ),
    CaseState.OPEN: frozenset({CaseState.INVESTIGATING, CaseState.RESOLUTION_PROPOSED, CaseState.CLOSED}),
    CaseState.INVESTIGATING: frozenset({CaseState.OPEN, CaseState.RESOLUTION_PROPOSED, CaseState.CLOSED}),
    CaseState.RESOLUTION_PROPOSED: frozenset({CaseState.INVESTIGATING, CaseState.RESOLVED, CaseState.CLOSED}),
    CaseState.RESOLVED: frozenset({CaseState.INVESTIGATING, CaseState.CLOSED}),
    CaseState.CLOSED: frozenset({CaseState.OPEN}),
}


def check_transition(current: CaseState, target: CaseState) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        raise TransitionRefused(f"a case that is {current.value} cannot become {target.value} (allowed: {allowed})")


_c = t.cases.c
_STATE = select(_c.state).where(_c.id == bindparam("case_id"))
_SET = t.cases.update().where(_c.id == bindparam("case_id"))


def of_case(conn: Connection, case_id: int) -> CaseState:
    return CaseState(conn.execute(_STATE, {"case_id": case_id}).scalar_one())


def move(
    conn: Connection, case_id: int, target: CaseState, *, why: str, by: str, now: datetime, **columns: object
) -> CaseState:
    """Move the case to ``target`` (refused unless the table allows it), recording why in the diary;
    ``columns`` are set with it (``resolution=``, ``resolved_at=`` ...). Returns the previous state."""
    current = of_case(conn, case_id)
    check_transition(current, target)
    conn.execute(_SET, {"case_id": case_id, "state": target, "updated_at": now, **columns})
    entry = StateChanged(target.value, current.value, why[:300])
    diary.append(conn, case_id, entry, at=now, actor=by)
    return current
