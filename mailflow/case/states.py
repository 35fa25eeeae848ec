"""Case states and the transitions allowed between them: one explicit table."""

from __future__ import annotations

from mailflow.errors import MailflowError
from mailflow.model import CaseState

TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.NEW: frozenset({CaseState.OPEN, CaseState.INVESTIGATING, CaseState.CLOSED}),
    CaseState.OPEN: frozenset({CaseState.INVESTIGATING, CaseState.RESOLUTION_PROPOSED, CaseState.CLOSED}),
    CaseState.INVESTIGATING: frozenset({CaseState.OPEN, CaseState.RESOLUTION_PROPOSED, CaseState.CLOSED}),
    CaseState.RESOLUTION_PROPOSED: frozenset({CaseState.INVESTIGATING, CaseState.RESOLVED}),
    CaseState.RESOLVED: frozenset({CaseState.INVESTIGATING, CaseState.CLOSED}),
    CaseState.CLOSED: frozenset({CaseState.OPEN}),
}


class TransitionRefused(MailflowError):
    pass


def check_transition(current: CaseState, target: CaseState) -> None:
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "none"
        raise TransitionRefused(f"a case that is {current.value} cannot become {target.value} (allowed: {allowed})")
