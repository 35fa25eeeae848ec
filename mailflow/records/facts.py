"""What the records know of each case, read in a few statements: the row every record is built from.

The Master Incident Log, the patterns, the ban export and the transparency report all read cases
through :func:`load`; none of them reads the diary. When a case was resolved is the case's own
column (``/enact``, or a chair's ``/close``), kept in the case record when retention removes the rest.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from mailflow.clock import as_utc
from mailflow.model import CaseState
from mailflow.model import core as t
from mailflow.records import tables as r

TYPES = ("conflict", "enforcement")
TYPE_NAMES = {"conflict": "conflict resolution", "enforcement": "conduct enforcement"}
SOURCES = ("reporter", "event-staff", "moderators", "escalated")
DONE = frozenset({CaseState.RESOLVED, CaseState.CLOSED})


@dataclass(frozen=True, slots=True)
class Person:
    role: str
    name: str | None
    address: str | None
    aliases: tuple[str, ...]

    @property
    def shown(self) -> str:
        if self.name and self.address:
            return f"{self.name} <{self.address}>"
        return self.name or self.address or "(removed)"

    def identifiers(self) -> set[str]:
        """The address and names by which the same person is found on other cases."""
        found = {" ".join(v.split()).casefold() for v in (self.address, self.name, *self.aliases) if v}
        return {v for v in found if len(v) >= 3}


@dataclass(frozen=True, slots=True)
class Link:
    kind: str
    """retaliation-for, retaliated-by, same, merged-into, merged-from."""
    other_id: int
    other_ref: str


@dataclass
class CaseFacts:
    id: int
    ref: str
    year: int
    state: CaseState
    subject: str
    created_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    resolution: str | None
    impact: int | None
    likelihood: int | None
    imported: bool
    updated_at: datetime
    case_type: str | None = None
    source: str | None = None
    category: str | None = None
    summary: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    merged_into: int | None = None
    anonymised_at: datetime | None = None
    parties: list[Person] = field(default_factory=list)
    lead: str | None = None
    secondary: str | None = None
    excluded: set[str] = field(default_factory=set)
    links: list[Link] = field(default_factory=list)

    @property
    def risk(self) -> int | None:
        return self.impact * self.likelihood if self.impact and self.likelihood else None

    @property
    def stronger_action(self) -> bool | None:
        """GovStack: "If an issue is likely to reccur without intervention AND the impact is medium
        or high, we know that we must use stronger actions". On the log's scales of 1 to 5, likely
        is 3 or more and medium or high impact is 3 or more. None until both are set."""
        if not self.impact or not self.likelihood:
            return None
        return self.likelihood >= 3 and self.impact >= 3

    def of_role(self, *roles: str) -> list[Person]:
        return [p for p in self.parties if p.role in roles]

    def visible_to(self, member: str) -> bool:
        """A member may see a case unless they are excluded from it (a party, a conflict, recused)."""
        return member not in self.excluded


def load(conn: Connection, case_ids: Iterable[int] | None = None) -> list[CaseFacts]:
    """Every case (or these), oldest first, with its record, parties, standing and links."""
    c = t.cases.c
    query = select(
        c.id, c.ref, c.year, c.state, c.subject, c.created_at, c.acknowledged_at, c.resolved_at, c.resolution,
        c.impact, c.likelihood, c.imported, c.updated_at,
    ).order_by(c.created_at, c.id)  # fmt: skip
    wanted = None if case_ids is None else sorted(set(case_ids))
    cases: dict[int, CaseFacts] = {}
    for row in each(conn, query, c.id, wanted):
        cases[row[0]] = CaseFacts(
            id=row[0], ref=row[1], year=row[2], state=CaseState(row[3]), subject=row[4] or "",
            created_at=as_utc(row[5]), acknowledged_at=_utc(row[6]), resolved_at=_utc(row[7]), resolution=row[8],
            impact=row[9], likelihood=row[10], imported=bool(row[11]), updated_at=as_utc(row[12]),
        )  # fmt: skip
    if not cases:
        return []
    # Every case: the other tables are read whole (a list of every id would outgrow what a
    # statement may bind: PostgreSQL takes at most 65,535 parameters). Some cases: in slices.
    ids = None if wanted is None else list(cases)
    rc = r.case_record.c
    for row in each(
        conn,
        select(
            rc.case_id,
            rc.case_type,
            rc.source,
            rc.category,
            rc.summary,
            rc.answers,
            rc.merged_into,
            rc.anonymised_at,
            rc.resolved_on,
        ),
        rc.case_id,
        ids,
    ):
        facts = cases[row[0]]
        facts.case_type, facts.source, facts.category, facts.summary = row[1], row[2], row[3], row[4] or ""
        facts.answers, facts.merged_into, facts.anonymised_at = dict(row[5] or {}), row[6], _utc(row[7])
        if facts.resolved_at is None and row[8] is not None:
            facts.resolved_at = as_utc(row[8])
    p = t.party.c
    for row in each(conn, select(p.case_id, p.role, p.name, p.address, p.aliases).order_by(p.id), p.case_id, ids):
        if row[0] not in cases:
            continue
        cases[row[0]].parties.append(Person(str(row[1]), row[2], row[3], tuple(row[4] or ())))
    m = t.case_member.c
    for case_id, member, assignment, excluded in each(
        conn, select(m.case_id, m.member, m.assignment, m.excluded), m.case_id, ids
    ):
        if (standing := cases.get(case_id)) is None:
            continue
        if excluded:
            standing.excluded.add(member)
        elif assignment == "lead":
            standing.lead = member
        elif assignment == "secondary":
            standing.secondary = member
    _links(conn, cases, ids)
    return list(cases.values())


SLICE = 5000
"""Ids bound per statement when reading some cases: well under SQLite's and PostgreSQL's limits."""


def each(conn: Connection, query: Any, column: Any, ids: list[int] | None) -> Iterator[Any]:
    """The rows of ``query``; with ``ids``, only those whose ``column`` is one of them, read a slice at a time."""
    if ids is None:
        yield from conn.execute(query)
        return
    for start in range(0, len(ids), SLICE):
        yield from conn.execute(query.where(column.in_(ids[start : start + SLICE])))


def _links(conn: Connection, cases: dict[int, CaseFacts], ids: list[int] | None) -> None:
    lc = r.case_link.c
    query = select(lc.case_id, lc.other_case_id, lc.kind)
    found = {tuple(row) for row in each(conn, query, lc.case_id, ids)}
    if ids is not None:
        found |= {tuple(row) for row in each(conn, query, lc.other_case_id, ids)}
    if not found:
        return
    others = sorted({i for row in found for i in row[:2]})
    refs: dict[int, str] = dict(each(conn, select(t.cases.c.id, t.cases.c.ref), t.cases.c.id, others))
    outward = {"retaliation": "retaliation-for", "same": "same", "merged": "merged-into"}
    inward = {"retaliation": "retaliated-by", "same": "same", "merged": "merged-from"}
    for case_id, other_id, kind in sorted(found):
        if case_id in cases:
            cases[case_id].links.append(Link(outward.get(kind, kind), other_id, refs[other_id]))
        if other_id in cases:
            cases[other_id].links.append(Link(inward.get(kind, kind), case_id, refs[case_id]))


def rows(conn: Connection, query: Any) -> list[Any]:
    """The rows of a query, untyped (the columns of these tables carry no Python types)."""
    return list(conn.execute(query))


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def by_member(facts: Iterable[CaseFacts], member: str) -> list[CaseFacts]:
    return [f for f in facts if f.visible_to(member)]


def grouped_identifiers(facts: Iterable[CaseFacts], *roles: str) -> dict[str, set[int]]:
    """identifier -> the cases on which a person of these roles goes by it."""
    out: dict[str, set[int]] = defaultdict(set)
    for case in facts:
        for person in case.of_role(*roles):
            for ident in person.identifiers():
                out[ident].add(case.id)
    return out
