"""The people of a case other than the committee: reporters, harmed, reported, witnesses, mediators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from mailflow.model import PartyRole
from mailflow.model import core as t

_p = t.party.c
_OF_CASE = (
    select(
        _p.id,
        _p.role,
        _p.name,
        _p.address,
        _p.aliases,
        _p.permission_seq,
        _p.mediation_agreed_seq,
        _p.apology_consent_seq,
        _p.no_contact_seq,
        _p.report_vetted_seq,
    )
    .where(_p.case_id == bindparam("case_id"))
    .order_by(_p.id)
)
_INSERT = t.party.insert()
_UPDATE = t.party.update().where(_p.id == bindparam("party_id"))

PROTECTED_ROLES = (PartyRole.REPORTER, PartyRole.HARMED)


@dataclass(frozen=True, slots=True)
class PartyView:
    id: int
    role: PartyRole
    name: str | None
    address: str | None
    aliases: tuple[str, ...]
    permission_seq: int | None
    mediation_agreed_seq: int | None = None
    """Agreed to mediation and to the mediator (the diary entry of their word)."""
    apology_consent_seq: int | None = None
    """A reporter agreed that an apology be asked for."""
    no_contact_seq: int | None = None
    """Asked for no further contact: mail to them is refused."""
    report_vetted_seq: int | None = None
    """Vetted the mediator's report."""

    def matches(self, who: str) -> bool:
        """Named by address, full name, or an alias (case-insensitive)."""
        key = " ".join(who.split()).casefold()
        return key in {" ".join(v.split()).casefold() for v in (self.address, self.name, *self.aliases) if v}

    @property
    def shown(self) -> str:
        return self.name or self.address or f"party #{self.id}"


def of_case(conn: Connection, case_id: int) -> list[PartyView]:
    return [
        PartyView(row[0], PartyRole(row[1]), row[2], row[3], tuple(row[4] or ()), *row[5:])
        for row in conn.execute(_OF_CASE, {"case_id": case_id})
    ]


def find(conn: Connection, case_id: int, who: str) -> list[PartyView]:
    return [p for p in of_case(conn, case_id) if p.matches(who)]


def add(
    conn: Connection,
    case_id: int,
    role: PartyRole,
    *,
    name: str | None,
    address: str | None,
    aliases: tuple[str, ...] = (),
    now: datetime,
) -> PartyView:
    existing = [
        p
        for p in of_case(conn, case_id)
        if p.role is role
        and ((address and p.address and p.address.lower() == address.lower()) or (name and p.name == name))
    ]
    if existing:
        party = existing[0]
        merged = tuple(dict.fromkeys((*party.aliases, *aliases)))
        conn.execute(
            _UPDATE,
            {
                "party_id": party.id,
                "aliases": list(merged),
                "name": party.name or name,
                "address": party.address or address,
            },
        )
        return PartyView(
            party.id, role, party.name or name, party.address or address, merged, party.permission_seq,
            party.mediation_agreed_seq, party.apology_consent_seq, party.no_contact_seq, party.report_vetted_seq,
        )  # fmt: skip
    conn.execute(
        _INSERT,
        {
            "case_id": case_id,
            "role": role,
            "name": name,
            "address": address,
            "aliases": list(aliases),
            "added_at": now,
            "permission_seq": None,
        },
    )
    return next(p for p in reversed(of_case(conn, case_id)) if p.role is role)


def add_aliases(conn: Connection, party: PartyView, aliases: tuple[str, ...]) -> None:
    conn.execute(_UPDATE, {"party_id": party.id, "aliases": list(dict.fromkeys((*party.aliases, *aliases)))})


def record_permission(conn: Connection, party: PartyView, seq: int) -> None:
    conn.execute(_UPDATE, {"party_id": party.id, "permission_seq": seq})


AGREEMENTS = {
    "mediation": "mediation_agreed_seq",
    "apology": "apology_consent_seq",
    "report": "report_vetted_seq",
    "no-contact": "no_contact_seq",
}
"""What a party can give their word to (``/agree NAME WHAT ENTRY``), and the column that keeps it."""


def record_agreement(conn: Connection, party: PartyView, what: str, seq: int | None) -> None:
    """Record (or, with None, withdraw) the diary entry holding a party's word on ``what``."""
    conn.execute(_UPDATE, {"party_id": party.id, AGREEMENTS[what]: seq})


def no_contact(conn: Connection, case_id: int) -> frozenset[str]:
    """The addresses of the parties who asked for no further contact."""
    return frozenset(p.address.lower() for p in of_case(conn, case_id) if p.no_contact_seq and p.address)
