"""What a command works with, what it answers, and whom else it tells.

A command handler receives the :class:`Context` and its arguments and returns what its author is
told (a string), or a :class:`Reply` when other members must hear of it too: the manuals ask that
a conflict of interest, a recusal or a unilateral action be disclosed to the committee at once,
that a new lead know it, that an urgent case reach every member who may act. A handler refuses by
raising :class:`CommandError`; whatever it wrote is then undone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import diary, parties, standing
from mailflow.drafting.context import DraftingContext
from mailflow.errors import (
    CommandError,
)
from mailflow.model import core as t

_ENTRY = select(t.diary.c.kind, t.diary.c.from_addr, t.diary.c.unverified).where(
    t.diary.c.case_id == bindparam("case_id"), t.diary.c.seq == bindparam("seq")
)


@dataclass(frozen=True, slots=True)
class Tell:
    """A mail to other members about a command: ``to`` are roster names."""

    to: tuple[str, ...]
    subject: str
    text: str


@dataclass(frozen=True, slots=True)
class Reply:
    message: str
    tell: tuple[Tell, ...] = ()


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str
    line: str


@dataclass(frozen=True, slots=True)
class Result:
    command: Command
    ok: bool
    message: str
    tell: tuple[Tell, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Context:
    conn: Connection
    case_id: int
    member: RosterMember
    roster: Sequence[RosterMember]
    now: datetime
    drafting: DraftingContext | None = None
    body: str = ""
    """The mail's text after the command lines (what /draft fills its notice with)."""

    @property
    def is_chair(self) -> bool:
        return self.member.role == "chair"

    def eligible(self) -> list[RosterMember]:
        """The members who may act on the case: not excluded from it."""
        out = standing.excluded(self.conn, self.case_id)
        return [m for m in self.roster if m.name not in out]

    def others(self) -> tuple[str, ...]:
        """The other members who may act on the case (whom a disclosure goes to)."""
        return tuple(m.name for m in self.eligible() if m.name != self.member.name)

    def own_entry(self) -> int:
        """The diary entry this command is about to get (its own record, cited by what it sets)."""
        return diary.head(self.conn, self.case_id).seq + 1


Handler = Callable[[Context, str], "str | Reply"]


def member_named(ctx: Context, who: str) -> RosterMember:
    """A roster member by full name, address or unique first name; ``me`` or nothing: the author."""
    key = " ".join(who.split()).casefold()
    if not key or key in ("me", "myself"):
        return ctx.member
    exact = [m for m in ctx.roster if m.name.casefold() == key or key in (a.casefold() for a in m.addresses)]
    if exact:
        return exact[0]
    first = [m for m in ctx.roster if m.name.split()[0].casefold() == key]
    if len(first) == 1:
        return first[0]
    raise CommandError(f"no committee member is called {who!r} (use the name in the roster)")


def one_party(ctx: Context, who: str) -> parties.PartyView:
    found = parties.find(ctx.conn, ctx.case_id, who)
    if not found:
        raise CommandError(f"no party of this case is called {who!r} (add one with /party)")
    if len(found) > 1:
        raise CommandError(f"{who!r} names {len(found)} parties; use the address")
    return found[0]


def party_and_entry(ctx: Context, args: str, usage: str) -> tuple[parties.PartyView, int]:
    """``NAME ENTRY``: a party and the number of a diary entry (``12`` or ``#12``)."""
    who, _, entry = args.strip().rpartition(" ")
    seq_text = entry.strip().lstrip("#")
    if not who.strip() or not seq_text.isdigit():
        raise CommandError(f"say who and which diary entry: {usage} (the entry's number)")
    return one_party(ctx, who.strip()), int(seq_text)


def written_by(ctx: Context, party: parties.PartyView, seq: int, what: str) -> None:
    """Refuse unless diary entry ``seq`` is a message from ``party`` that passed authentication:
    what the manuals ask a person's word for (permission, agreement, consent) must be their own."""
    row = ctx.conn.execute(_ENTRY, {"case_id": ctx.case_id, "seq": seq}).first()
    if row is None:
        raise CommandError(f"the diary of this case has no entry {seq}")
    if not party.address or (row[1] or "").lower() != party.address.lower():
        raise CommandError(f"entry {seq} is not a message from {party.shown}: {what} must come from the person")
    if row[2]:
        raise CommandError(
            f"entry {seq} is unverified (it failed authentication for its sender's domain, so it may be forged):"
            f" {what} must come from {party.shown} themself; ask them again and record that answer"
        )
