"""The dates a case must keep (mailflow.case.deadlines): planned once, due when their date has
passed, fired once (a second worker finds it claimed), or met in time and then never fired.
What firing does is mailflow.committee.deadlines' business, not tested here."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import Connection, select

from mailflow.case import deadlines
from mailflow.case import service as cases
from mailflow.case.deadlines import Due, Planned
from mailflow.model import core as t
from tests.support.database import NOW

HOUR = timedelta(hours=1)


def new_case(conn: Connection) -> int:
    return cases.open_case(conn, reporter=None, subject="report", opened_at=NOW - 48 * HOUR).case.id


def ref_of(conn: Connection, case_id: int) -> str:
    return str(conn.execute(select(t.cases.c.ref).where(t.cases.c.id == case_id)).scalar_one())


def plan(conn: Connection, case_id: int, name: str, due_at: datetime, by: str = "mailflow") -> bool:
    return deadlines.plan(conn, case_id, name, due_at, about=f"what {name} waits for", by=by, now=NOW - 48 * HOUR)


def due_names(conn: Connection, now: datetime = NOW) -> list[str]:
    return [d.name for d in deadlines.due(conn, now)]


def one_due(conn: Connection, name: str) -> Due:
    [found] = [d for d in deadlines.due(conn, NOW) if d.name == name]
    return found


def states(conn: Connection, case_id: int) -> dict[str, tuple[bool, bool]]:
    """name -> (done, fired)."""
    return {p.name: (p.done_at is not None, p.fired_at is not None) for p in deadlines.of_case(conn, case_id)}


# -- plan ------------------------------------------------------------------------------------------


def test_a_deadline_is_planned_once_per_case_and_name(conn: Connection) -> None:
    one, two = new_case(conn), new_case(conn)
    # Given an acknowledgement planned for a case,
    assert plan(conn, one, "acknowledgement", NOW + HOUR) is True
    # when it is planned again (another date), nothing changes; another case plans its own.
    assert plan(conn, one, "acknowledgement", NOW + 5 * HOUR) is False
    assert plan(conn, two, "acknowledgement", NOW + 2 * HOUR) is True
    assert [(p.name, p.due_at) for p in deadlines.of_case(conn, one)] == [("acknowledgement", NOW + HOUR)]
    assert [(p.name, p.due_at) for p in deadlines.of_case(conn, two)] == [("acknowledgement", NOW + 2 * HOUR)]


def test_a_planned_deadline_keeps_who_set_it_and_what_it_waits_for(conn: Connection) -> None:
    case_id = new_case(conn)
    plan(conn, case_id, "unilateral-4", NOW + 24 * HOUR, by="Bo Member")
    assert deadlines.of_case(conn, case_id) == [
        Planned("unilateral-4", NOW + 24 * HOUR, None, None, "what unilateral-4 waits for", "Bo Member")
    ]


# -- due -------------------------------------------------------------------------------------------


def test_only_passed_deadlines_neither_fired_nor_met_are_due_oldest_first(conn: Connection) -> None:
    one, two = new_case(conn), new_case(conn)
    plan(conn, one, "status-update-1", NOW - 2 * HOUR)
    plan(conn, two, "acknowledgement", NOW - 3 * HOUR)
    plan(conn, one, "acknowledgement", NOW)  # due at this very moment: due
    plan(conn, one, "personal-reply", NOW + timedelta(seconds=1))  # not yet
    plan(conn, two, "reply_by-3", NOW - 4 * HOUR)
    plan(conn, two, "vote-1", NOW - 5 * HOUR)
    deadlines.done(conn, two, "reply_by-3", now=NOW - 5 * HOUR)  # met in time
    assert deadlines.fire(conn, one_due(conn, "vote-1"), NOW) is True  # fired already
    found = deadlines.due(conn, NOW)
    assert [(d.case_id, d.name) for d in found] == [
        (two, "acknowledgement"),
        (one, "status-update-1"),
        (one, "acknowledgement"),
    ]
    # Each names its case by reference, for the reminder.
    assert {(d.case_id, d.case_ref) for d in found} == {(one, ref_of(conn, one)), (two, ref_of(conn, two))}


def test_deadlines_due_at_the_same_moment_come_in_the_order_they_were_planned(conn: Connection) -> None:
    case_id = new_case(conn)
    for name in ("c", "a", "b"):
        plan(conn, case_id, name, NOW - HOUR)
    assert due_names(conn) == ["c", "a", "b"]


def test_due_reads_at_most_the_limit(conn: Connection) -> None:
    case_id = new_case(conn)
    for n in range(5):
        plan(conn, case_id, f"status-update-{n}", NOW - (5 - n) * HOUR)
    assert [d.name for d in deadlines.due(conn, NOW, limit=2)] == ["status-update-0", "status-update-1"]


def test_a_date_given_in_another_time_zone_is_the_same_instant(conn: Connection) -> None:
    # Given a deadline at 11:30 in UTC+2, that is 09:30 UTC,
    case_id = new_case(conn)
    plan(conn, case_id, "acknowledgement", datetime(2026, 11, 3, 11, 30, tzinfo=timezone(timedelta(hours=2))))
    # then at 10:00 UTC it is due, and at 09:00 UTC it was not.
    assert due_names(conn, NOW) == ["acknowledgement"]
    assert due_names(conn, NOW - HOUR) == []


# -- fire, met, done -------------------------------------------------------------------------------


def test_a_deadline_fires_once(conn: Connection) -> None:
    case_id = new_case(conn)
    plan(conn, case_id, "acknowledgement", NOW - HOUR)
    deadline = one_due(conn, "acknowledgement")
    # When two workers claim it, only the first gets it,
    assert deadlines.fire(conn, deadline, NOW) is True
    assert deadlines.fire(conn, deadline, NOW + HOUR) is False
    # and it is not due any more.
    assert due_names(conn, NOW + HOUR) == []
    assert states(conn, case_id) == {"acknowledgement": (False, True)}


def test_a_met_deadline_does_not_fire(conn: Connection) -> None:
    case_id = new_case(conn)
    plan(conn, case_id, "acknowledgement", NOW - HOUR)
    deadline = one_due(conn, "acknowledgement")
    deadlines.done(conn, case_id, "acknowledgement", now=NOW)
    assert deadlines.fire(conn, deadline, NOW) is False
    assert states(conn, case_id) == {"acknowledgement": (True, False)}


def test_a_claimed_deadline_found_moot_is_met_not_fired(conn: Connection) -> None:
    """The worker claimed it, then saw that what it waited for had happened after all."""
    case_id = new_case(conn)
    plan(conn, case_id, "personal-reply", NOW - HOUR)
    deadline = one_due(conn, "personal-reply")
    assert deadlines.fire(conn, deadline, NOW) is True
    deadlines.met(conn, deadline, NOW)
    assert states(conn, case_id) == {"personal-reply": (True, False)}
    assert due_names(conn, NOW + HOUR) == []
    assert deadlines.fire(conn, deadline, NOW + HOUR) is False


def test_done_meets_only_the_named_deadlines_that_are_still_waiting(conn: Connection) -> None:
    case_id, other = new_case(conn), new_case(conn)
    for name in ("acknowledgement", "personal-reply", "status-update-1"):
        plan(conn, case_id, name, NOW + HOUR)
    plan(conn, other, "acknowledgement", NOW + HOUR)
    plan(conn, case_id, "vote-1", NOW - HOUR)
    assert deadlines.fire(conn, one_due(conn, "vote-1"), NOW) is True
    # When the acknowledgement and the vote are done (and a name that was never planned),
    deadlines.done(conn, case_id, "acknowledgement", "vote-1", "no-such-deadline", now=NOW)
    # then the acknowledgement is met, the fired vote stays fired, the rest and the other case wait.
    assert states(conn, case_id) == {
        "acknowledgement": (True, False),
        "personal-reply": (False, False),
        "status-update-1": (False, False),
        "vote-1": (False, True),
    }
    assert states(conn, other) == {"acknowledgement": (False, False)}


def test_done_like_meets_a_whole_family(conn: Connection) -> None:
    case_id = new_case(conn)
    for name in ("status-update-1", "status-update-2", "acknowledgement", "reply_by-3"):
        plan(conn, case_id, name, NOW + HOUR)
    deadlines.done_like(conn, case_id, "status-update", now=NOW)
    assert states(conn, case_id) == {
        "status-update-1": (True, False),
        "status-update-2": (True, False),
        "acknowledgement": (False, False),
        "reply_by-3": (False, False),
    }


def test_done_like_takes_the_family_name_literally(conn: Connection) -> None:
    """``_`` and ``%`` in a family name are characters of the name, as ``pending`` reads them."""
    case_id = new_case(conn)
    for name in ("reply_by-3", "reply-by-4", "replyXby-5"):
        plan(conn, case_id, name, NOW + HOUR)
    deadlines.done_like(conn, case_id, "reply_by", now=NOW)
    assert states(conn, case_id) == {"reply_by-3": (True, False), "reply-by-4": (False, False),
                                     "replyXby-5": (False, False)}  # fmt: skip
    assert [p.name for p in deadlines.pending(conn, case_id, "reply_by")] == []


def test_done_like_with_nothing_pending_does_nothing(conn: Connection) -> None:
    case_id = new_case(conn)
    deadlines.done_like(conn, case_id, "status-update", now=NOW)
    assert deadlines.of_case(conn, case_id) == []


# -- pending, shorten --------------------------------------------------------------------------------


def test_pending_by_family_and_author(conn: Connection) -> None:
    case_id = new_case(conn)
    plan(conn, case_id, "unilateral-4", NOW + HOUR, by="Bo Member")
    plan(conn, case_id, "unilateral-7", NOW + 2 * HOUR, by="Cy Member")
    plan(conn, case_id, "unilateral-9", NOW - HOUR, by="Bo Member")
    plan(conn, case_id, "mediation-5", NOW + HOUR, by="Bo Member")
    assert deadlines.fire(conn, one_due(conn, "unilateral-9"), NOW) is True  # fired: no longer pending
    assert {p.name for p in deadlines.pending(conn, case_id)} == {"unilateral-4", "unilateral-7", "mediation-5"}
    assert {p.name for p in deadlines.pending(conn, case_id, "unilateral-")} == {"unilateral-4", "unilateral-7"}
    assert [p.name for p in deadlines.pending(conn, case_id, "unilateral-", by="Bo Member")] == ["unilateral-4"]
    assert deadlines.pending(conn, case_id, "unilateral-", by="Ada Chair") == []


def test_shorten_brings_every_pending_deadline_within_reach(conn: Connection) -> None:
    """An urgent case: whatever was due later than ``latest`` is due then; sooner ones stay."""
    case_id, other = new_case(conn), new_case(conn)
    plan(conn, case_id, "acknowledgement", NOW + HOUR)
    plan(conn, case_id, "status-update-1", NOW + 7 * 24 * HOUR)
    plan(conn, case_id, "reply_by-3", NOW + 10 * 24 * HOUR)
    plan(conn, case_id, "mediation-5", NOW + 14 * 24 * HOUR)
    plan(conn, other, "status-update-1", NOW + 7 * 24 * HOUR)
    deadlines.done(conn, case_id, "reply_by-3", now=NOW)
    latest = NOW + 4 * HOUR
    assert deadlines.shorten(conn, case_id, latest) == 2
    due_at = {p.name: p.due_at for p in deadlines.of_case(conn, case_id)}
    assert due_at == {
        "acknowledgement": NOW + HOUR,
        "status-update-1": latest,
        "mediation-5": latest,
        "reply_by-3": NOW + 10 * 24 * HOUR,  # met: nothing to hurry
    }
    assert [p.due_at for p in deadlines.of_case(conn, other)] == [NOW + 7 * 24 * HOUR]


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("status-update-3", "status-update"),
        ("reply_by-12", "reply_by"),
        ("acknowledgement", "acknowledgement"),
        ("personal-reply", "personal-reply"),
    ],
)
def test_the_family_of_a_deadline(name: str, family: str) -> None:
    assert Due(1, 1, "2026-0001", name, NOW, "", "mailflow").family == family
