"""Patterns and links between cases.

The Django guidelines: get "multiple corroboration of any complaint" so as to "say 'this is a
pattern of behavior', not 'this is one bad incident'". A case whose reported person (by address,
name or alias) is reported in earlier cases shows those cases to the members who may see them:
when the person is named (``/party reported ...``, ``/alias``), each such member is mailed the
earlier cases they may see, and ``/patterns`` or ``mailflow patterns REF`` list them at any time.

A case can be linked to another: ``/link retaliation REF`` (this case is a retaliation for that
one: the guidelines weigh retaliation far above the original), ``/link same REF`` (two reports of
one incident), and ``/merge REF`` (this case is the same incident as REF and is closed into it: its
parties join REF, so that the policy gate protects them there too; it is counted once, as REF).
A member may link only cases they may see both of. Each link is in both diaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection, select

from mailflow.auth import RosterMember
from mailflow.case import diary, parties
from mailflow.case import service as cases
from mailflow.case.entries import Linked
from mailflow.config import Settings
from mailflow.model import CaseState
from mailflow.model import core as t
from mailflow.records import mail, store
from mailflow.records import tables as r
from mailflow.records.facts import TYPE_NAMES, CaseFacts, load
from mailflow.records.log import earlier_cases

KINDS = ("retaliation", "same")


class LinkError(Exception):
    pass


def earlier(conn: Connection, case_id: int) -> tuple[CaseFacts, list[CaseFacts]]:
    """The case, and the earlier cases about the same reported person."""
    facts = load(conn)
    this = next(f for f in facts if f.id == case_id)
    return this, earlier_cases(facts).get(case_id, [])


def describe(cases_: Sequence[CaseFacts]) -> str:
    lines = []
    for case in cases_:
        what = TYPE_NAMES.get(case.case_type or "", "type not set")
        outcome = f", resolution: {case.resolution}" if case.resolution else ""
        lines.append(f"  {case.ref} (received {case.created_at:%Y-%m-%d}, {case.state.value}, {what}{outcome})")
    return "\n".join(lines)


def announce(
    conn: Connection,
    settings: Settings,
    roster: Sequence[RosterMember],
    case_id: int,
    *,
    asked_by: RosterMember,
    now: datetime,
) -> str:
    """After the reported person was named: mail each member of the case the earlier cases they may
    see; the answer for the member who named them."""
    this, found = earlier(conn, case_id)
    if not found:
        return ""
    names = "; ".join(p.shown for p in this.of_role("reported"))
    told = 0
    for member in roster:
        if not this.visible_to(member.name):
            continue
        seen = [c for c in found if c.visible_to(member.name)]
        if not seen:
            continue
        text = (
            f"Case {this.ref}: the reported person ({names}) is also the reported person of earlier cases"
            f" you may see:\n\n{describe(seen)}\n\nThis may be a pattern of behavior, not one incident"
            " (Django communications guidelines). The committee decides what follows from it.\n"
        )
        mail.to_member(
            conn, settings, member, f"Pattern: case {this.ref} and earlier cases", text,
            what="patterns", now=now, reply_case=cases.CaseRef(this.id, this.ref),
        )  # fmt: skip
        told += 1
    mine = [c.ref for c in found if c.visible_to(asked_by.name)]
    said = f"pattern: the reported person appears in earlier case(s) {', '.join(mine)}" if mine else ""
    return f"{said}; {told} member(s) were mailed the earlier cases they may see".lstrip("; ")


def _other(conn: Connection, case_id: int, ref: str, member: RosterMember) -> CaseFacts:
    other = cases.by_ref(conn, ref.strip().lstrip("#").upper())
    if other is None:
        raise LinkError(f"no case {ref.strip()!r}")
    if other.id == case_id:
        raise LinkError("a case cannot be linked to itself")
    [facts] = load(conn, [other.id])
    if not facts.visible_to(member.name):
        raise LinkError(f"you are excluded from case {other.ref}: you cannot link it")
    return facts


def link(conn: Connection, case_id: int, kind: str, ref: str, member: RosterMember, now: datetime) -> str:
    if kind not in KINDS:
        raise LinkError("say how: /link retaliation REF (this case retaliates for REF) or /link same REF")
    other = _other(conn, case_id, ref, member)
    _insert(conn, case_id, other.id, kind, member, now)
    this_ref = _ref(conn, case_id)
    said = {
        "retaliation": f"case {this_ref} is a retaliation for this case",
        "same": f"case {this_ref} reports the same incident",
    }
    diary.append(conn, other.id, Linked(kind, this_ref, said[kind]), at=now, actor=member.name)
    if kind == "retaliation":
        return f"linked: this case is a retaliation for {other.ref} (consider stronger action)"
    return f"linked: this case and {other.ref} report the same incident"


def merge(conn: Connection, case_id: int, ref: str, member: RosterMember, now: datetime) -> str:
    other = _other(conn, case_id, ref, member)
    if other.merged_into is not None:
        raise LinkError(f"case {other.ref} was merged into another case itself; merge into that one")
    _insert(conn, case_id, other.id, "merged", member, now)
    added = 0
    for person in parties.of_case(conn, case_id):
        if person.name or person.address:
            parties.add(
                conn, other.id, person.role, name=person.name, address=person.address, aliases=person.aliases, now=now
            )
            added += 1
    store.update(conn, case_id, now, merged_into=other.id)
    conn.execute(t.cases.update().where(t.cases.c.id == case_id).values(state=CaseState.CLOSED, updated_at=now))
    this_ref = _ref(conn, case_id)
    text = f"case {this_ref} was merged into this case (the same incident); {added} party(ies) joined it"
    diary.append(conn, other.id, Linked("merged", this_ref, text), at=now, actor=member.name)
    return (
        f"merged into {other.ref}: this case is closed and counted once, as {other.ref}; its {added} party(ies)"
        f" joined {other.ref} (mail to this case's addresses still arrives here)"
    )


def _insert(conn: Connection, case_id: int, other_id: int, kind: str, member: RosterMember, now: datetime) -> None:
    lc = r.case_link.c
    exists = conn.execute(
        select(lc.id).where(lc.case_id == case_id, lc.other_case_id == other_id, lc.kind == kind)
    ).first()
    if exists is None:
        conn.execute(
            r.case_link.insert(),
            {"case_id": case_id, "other_case_id": other_id, "kind": kind, "created_at": now, "created_by": member.name},
        )


def _ref(conn: Connection, case_id: int) -> str:
    return str(conn.execute(select(t.cases.c.ref).where(t.cases.c.id == case_id)).scalar_one())
