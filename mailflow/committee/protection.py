"""What the policy gate must protect on a case, read from the database.

"Protecting reporters is our first priority. Never forward communication or disclose identities of
reporters outside of the code of conduct committee, without the express written permission of the
person concerned." (Django communications guidelines.) Reporters and harmed persons are protected
with every name, address and alias the case knows and with the words of every message they wrote;
written permission recorded with ``/permission`` lifts it. While a case is under investigation the
reported person's identity is held back from third parties too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Select, bindparam, func, select

from mailflow.committee import parties
from mailflow.model import CaseState, PartyRole
from mailflow.model import core as t
from mailflow.policy.exposure import Identity
from mailflow.policy.gate import Protected

_d = t.diary.c
_WORDS_OF: Select[int, str | None] = select(_d.seq, _d.new_text).where(
    _d.case_id == bindparam("case_id"),
    func.lower(_d.from_addr) == bindparam("address"),
    _d.inbound_id.is_not(None),
)
_STATE = select(t.cases.c.state).where(t.cases.c.id == bindparam("case_id"))

UNDER_INVESTIGATION = frozenset({CaseState.INVESTIGATING})


@dataclass(frozen=True, slots=True)
class CaseProtection:
    protected: tuple[Protected, ...]
    withheld: tuple[Identity, ...]
    """Identities held back from anyone who is not themselves or a protected person."""
    protected_addresses: frozenset[str]


def _identity(label: str, party: parties.PartyView) -> Identity:
    return Identity(
        label=label,
        names=(party.name,) if party.name else (),
        addresses=(party.address,) if party.address else (),
        aliases=party.aliases,
    )


def of_case(conn: Connection, case_id: int) -> CaseProtection:
    protected: list[Protected] = []
    withheld: list[Identity] = []
    addresses: set[str] = set()
    counts: dict[PartyRole, int] = {}
    state = CaseState(conn.execute(_STATE, {"case_id": case_id}).scalar_one())
    for party in parties.of_case(conn, case_id):
        counts[party.role] = counts.get(party.role, 0) + 1
        label = f"{party.role.value} #{counts[party.role]}"
        if party.role in parties.PROTECTED_ROLES:
            texts: tuple[tuple[str, str], ...] = ()
            if party.address:
                addresses.add(party.address.lower())
                rows = conn.execute(_WORDS_OF, {"case_id": case_id, "address": party.address.lower()})
                texts = tuple((f"{label}'s message (diary entry {seq})", text) for seq, text in rows if text)
            protected.append(Protected(_identity(label, party), texts, permitted=party.permission_seq is not None))
        elif party.role is PartyRole.REPORTED and state in UNDER_INVESTIGATION:
            withheld.append(_identity(label, party))
    return CaseProtection(tuple(protected), tuple(withheld), frozenset(addresses))
