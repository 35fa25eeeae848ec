"""The dates a case must keep, as rows of their own: planned, met, or fired once.

A deadline is planned when the date becomes known (a live case opens: its acknowledgement and its
first status update; a member marks an action unilateral, a mediation or a deadlock; a notice that
promises a date is sent). It is ``done`` when what it waits for happens in time, and ``fired`` once
when its date passes without that (``mailflow.committee.deadlines`` decides what firing does: a
reminder, a draft, an alert). The check reads only rows that are due, through the index on
(fired_at, done_at, due_at), so its cost does not grow with the cases stored. Imported history
plans nothing: what happened before the import is not late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.model import core as t

_d = t.deadline.c
_DUE: Select[int, int, str, str, datetime, str, str] = (
    select(_d.id, _d.case_id, t.cases.c.ref, _d.name, _d.due_at, _d.about, _d.created_by)
    .join(t.cases, t.cases.c.id == _d.case_id)
    .where(_d.fired_at.is_(None), _d.done_at.is_(None), _d.due_at <= bindparam("now"))
    .order_by(_d.due_at, _d.id)
    .limit(bindparam("limit"))
)
_OF_CASE: Select[str, datetime, datetime | None, datetime | None, str, str] = (
    select(_d.name, _d.due_at, _d.done_at, _d.fired_at, _d.about, _d.created_by)
    .where(_d.case_id == bindparam("case_id"))
    .order_by(_d.due_at)
)
_EXISTS = select(_d.id).where(_d.case_id == bindparam("case_id"), _d.name == bindparam("name"))
_INSERT = t.deadline.insert()
_FIRE = (
    t.deadline.update()
    .where(_d.id == bindparam("deadline_id"), _d.fired_at.is_(None), _d.done_at.is_(None))
    .values(fired_at=bindparam("now"))
)
_DONE = (
    t.deadline.update()
    .where(
        _d.case_id == bindparam("for_case"),
        _d.name.in_(bindparam("names", expanding=True)),
        _d.fired_at.is_(None),
        _d.done_at.is_(None),
    )
    .values(done_at=bindparam("now"))
)
_MET = t.deadline.update().where(_d.id == bindparam("deadline_id")).values(fired_at=None, done_at=bindparam("now"))
_PENDING: Select[str, datetime, datetime | None, datetime | None, str, str] = select(
    _d.name, _d.due_at, _d.done_at, _d.fired_at, _d.about, _d.created_by
).where(_d.case_id == bindparam("case_id"), _d.fired_at.is_(None), _d.done_at.is_(None))
_SHORTEN = (
    t.deadline.update()
    .where(
        _d.case_id == bindparam("for_case"),
        _d.fired_at.is_(None),
        _d.done_at.is_(None),
        _d.due_at > bindparam("latest"),
    )
    .values(due_at=bindparam("latest"))
)


@dataclass(frozen=True, slots=True)
class Due:
    id: int
    case_id: int
    case_ref: str
    name: str
    due_at: datetime
    about: str
    set_by: str

    @property
    def family(self) -> str:
        """The kind of deadline: "status-update" of "status-update-3", "reply_by" of "reply_by-12"."""
        head, _, tail = self.name.rpartition("-")
        return head if tail.isdigit() else self.name


@dataclass(frozen=True, slots=True)
class Planned:
    name: str
    due_at: datetime
    done_at: datetime | None
    fired_at: datetime | None
    about: str
    set_by: str = "mailflow"


def plan(
    conn: Connection, case_id: int, name: str, due_at: datetime, *, about: str = "", by: str = "mailflow", now: datetime
) -> bool:
    """Plan a deadline (once per case and name); False when it was planned already."""
    if conn.execute(_EXISTS, {"case_id": case_id, "name": name}).first() is not None:
        return False
    conn.execute(
        _INSERT,
        {
            "case_id": case_id,
            "name": name[:100],
            "due_at": due_at,
            "created_at": now,
            "created_by": by[:200],
            "about": about[:500],
        },
    )
    return True


def done(conn: Connection, case_id: int, *names: str, now: datetime) -> None:
    """What these deadlines waited for happened: they will not fire."""
    conn.execute(_DONE, {"for_case": case_id, "names": list(names), "now": now})


def done_like(conn: Connection, case_id: int, prefix: str, *, now: datetime) -> None:
    """Every pending deadline of one family ("status-update", "reply_by") is met. The family is the
    start of the name as written (as ``pending`` reads it): "reply_by" is not a LIKE pattern that
    would also take "reply-by" or "replyXby"."""
    names = [p.name for p in pending(conn, case_id, prefix)]
    if names:
        done(conn, case_id, *names, now=now)


def due(conn: Connection, now: datetime, limit: int = 500) -> list[Due]:
    """The deadlines whose date has passed and that neither fired nor were met, oldest first."""
    return [Due(*row) for row in conn.execute(_DUE, {"now": now, "limit": limit})]


def fire(conn: Connection, deadline: Due, now: datetime) -> bool:
    """Claim the deadline: False when it fired or was met meanwhile (another worker got there)."""
    return bool(conn.execute(_FIRE, {"deadline_id": deadline.id, "now": now}).rowcount)


def met(conn: Connection, deadline: Due, now: datetime) -> None:
    """A deadline claimed to fire that turned out met after all (or moot): done, not fired."""
    conn.execute(_MET, {"deadline_id": deadline.id, "now": now})


def of_case(conn: Connection, case_id: int) -> list[Planned]:
    return [Planned(*row) for row in conn.execute(_OF_CASE, {"case_id": case_id})]


def pending(conn: Connection, case_id: int, prefix: str = "", *, by: str | None = None) -> list[Planned]:
    """The case's deadlines still waiting (neither met nor fired), of one family and one author."""
    rows = [Planned(*row) for row in conn.execute(_PENDING, {"case_id": case_id})]
    return [p for p in rows if p.name.startswith(prefix) and (by is None or p.set_by == by)]


def shorten(conn: Connection, case_id: int, latest: datetime) -> int:
    """Bring every pending deadline of the case to ``latest`` at the most (an urgent case)."""
    return int(conn.execute(_SHORTEN, {"for_case": case_id, "latest": latest}).rowcount)
