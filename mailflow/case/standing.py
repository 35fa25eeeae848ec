"""Members' standing on a case: assigned (lead, secondary) or kept out of it.

"If any member of the committee has a conflict of interest ... they must recuse themselves" and a
member who is a party to a report never handles it (the manuals' conflict-of-interest sections):
an excluded member receives no mail of the case and no command of theirs on it is obeyed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.model import core as t

CONFLICT = "conflict"
RECUSED = "recused"
PARTY = "party"
SUSPECTED_PARTY = "party (suspected)"

_m = t.case_member.c
_OF_CASE: Select[str, str | None, bool, str | None] = select(_m.member, _m.assignment, _m.excluded, _m.reason).where(
    _m.case_id == bindparam("case_id")
)
_ONE = select(_m.id).where(_m.case_id == bindparam("case_id"), _m.member == bindparam("member"))
_INSERT = t.case_member.insert()
_UPDATE = t.case_member.update().where(_m.id == bindparam("row_id"))


@dataclass(frozen=True, slots=True)
class Standing:
    member: str
    assignment: str | None
    excluded: bool
    reason: str | None


def of_case(conn: Connection, case_id: int) -> dict[str, Standing]:
    return {row[0]: Standing(*row) for row in conn.execute(_OF_CASE, {"case_id": case_id})}


def excluded(conn: Connection, case_id: int) -> frozenset[str]:
    return frozenset(s.member for s in of_case(conn, case_id).values() if s.excluded)


def _upsert(conn: Connection, case_id: int, member: str, values: dict[str, object], now: datetime, by: str) -> None:
    row = conn.execute(_ONE, {"case_id": case_id, "member": member}).first()
    if row is None:
        base: dict[str, object] = {"assignment": None, "excluded": False, "reason": None}
        conn.execute(_INSERT, {**base, **values, "case_id": case_id, "member": member, "since": now, "by": by})
    else:
        conn.execute(_UPDATE, {"row_id": row[0], **values, "since": now, "by": by})


def exclude(conn: Connection, case_id: int, member: str, reason: str, *, now: datetime, by: str) -> None:
    _upsert(conn, case_id, member, {"excluded": True, "reason": reason, "assignment": None}, now, by)


def include(conn: Connection, case_id: int, member: str, *, now: datetime, by: str) -> None:
    _upsert(conn, case_id, member, {"excluded": False, "reason": None}, now, by)


def assign(conn: Connection, case_id: int, member: str, assignment: str, *, now: datetime, by: str) -> None:
    """Lead or secondary (GovStack: "a lead and a secondary ... are assigned to each incident")."""
    if assignment == "lead":
        for standing in of_case(conn, case_id).values():
            if standing.assignment == "lead" and standing.member != member:
                _upsert(conn, case_id, standing.member, {"assignment": None}, now, by)
    _upsert(conn, case_id, member, {"assignment": assignment}, now, by)
