"""The case diary (mailflow.case.diary): append-only, each entry chained to the one before by
SHA-256, so that editing or deleting an entry in the database is found by ``verify``.

Each case has a chain of its own, numbered 1, 2, 3 ...; a transaction that writes several entries
chains each on the one it wrote before, and a rollback (of the transaction or of a savepoint)
must not leave the next entry chained on an entry that was never stored. Run on SQLite and on
PostgreSQL, committing for real (each test on cases it opens itself).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection, Engine, select
from sqlmodel import Session

from mailflow.case import diary
from mailflow.case import service as cases
from mailflow.case.entries import CommandRun, DeadlineFired, StateChanged
from mailflow.database import connection
from mailflow.model import DiaryEntry
from mailflow.model import core as t
from mailflow.parse.message import Address
from tests.support.database import NOW


class Rollback(Exception):
    """Raised inside a savepoint or a transaction to roll it back."""


def open_case(conn: Connection, subject: str = "Harassment at the sprint") -> int:
    opened = cases.open_case(
        conn, reporter=Address("Jane Reporter", "jane@example.net"), subject=subject, opened_at=NOW
    )
    return opened.case.id


def note(n: int) -> CommandRun:
    return CommandRun(command=f"/note {n}", ok=True, result="noted")


def stored(engine: Engine, case_id: int) -> list[DiaryEntry]:
    with Session(engine) as session:
        return diary.entries(session, case_id)


def verified(engine: Engine, case_id: int) -> int | None:
    with Session(engine) as session:
        return diary.verify(session, case_id)


def test_entries_are_numbered_from_one_and_chained(engine: Engine) -> None:
    # Given a new case, when three entries are appended in one transaction,
    with connection(engine) as conn:
        case_id = open_case(conn)
        written = [diary.append(conn, case_id, note(n), at=NOW + timedelta(minutes=n)) for n in range(3)]
    # then they are numbered 1, 2, 3, each chained to the one before (the first to the genesis),
    assert [w.seq for w in written] == [1, 2, 3]
    rows = stored(engine, case_id)
    assert [r.seq for r in rows] == [1, 2, 3] and [r.id for r in rows] == [w.id for w in written]
    assert rows[0].prev_hash == diary.GENESIS
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
    # and the chain verifies.
    assert verified(engine, case_id) is None


def test_a_later_transaction_continues_the_stored_chain(engine: Engine) -> None:
    with connection(engine) as conn:
        case_id = open_case(conn)
        diary.append(conn, case_id, note(1), at=NOW)
    # When another transaction appends, it reads the head from the database,
    with connection(engine) as conn:
        assert diary.head(conn, case_id).seq == 1
        written = diary.append(conn, case_id, note(2), at=NOW, actor="Ada Chair", to_addrs=("bo@committee.example",))
    # then its entry is number 2, chained on number 1.
    assert written.seq == 2
    first, second = stored(engine, case_id)
    assert second.prev_hash == first.hash and second.to_addrs == ["bo@committee.example"]
    assert verified(engine, case_id) is None


def test_two_cases_keep_separate_chains_within_one_transaction(engine: Engine) -> None:
    # Given two cases written to alternately in one transaction (a batch of intake does this),
    with connection(engine) as conn:
        one, two = open_case(conn, "first"), open_case(conn, "second")
        seqs = [
            (case_id, diary.append(conn, case_id, note(n), at=NOW).seq)
            for n, case_id in enumerate((one, two, one, one, two))
        ]
    # then each case is numbered on its own and each chain links only its own entries.
    assert seqs == [(one, 1), (two, 1), (one, 2), (one, 3), (two, 2)]
    for case_id, length in ((one, 3), (two, 2)):
        rows = stored(engine, case_id)
        assert [r.seq for r in rows] == list(range(1, length + 1))
        assert [r.prev_hash for r in rows] == [diary.GENESIS, *(r.hash for r in rows[:-1])]
        assert verified(engine, case_id) is None


@pytest.mark.parametrize(
    "column",
    ["detail", "new_text", "actor", "at"],
)
def test_an_edited_entry_breaks_the_chain_where_it_was_edited(engine: Engine, column: str) -> None:
    # Given a case with three entries,
    with connection(engine) as conn:
        case_id = open_case(conn)
        diary.append(conn, case_id, note(1), at=NOW, actor="Ada Chair", new_text="first")
        diary.append(conn, case_id, DeadlineFired("status-update-1", "a draft"), at=NOW, actor="mailflow",
                     new_text="second")  # fmt: skip
        diary.append(conn, case_id, note(3), at=NOW, actor="Bo Member", new_text="third")
    assert verified(engine, case_id) is None
    # when someone edits the second one in the database, behind the service's back,
    edits = {
        "detail": {"note": "deadline", "deadline": "status-update-1", "fired": "nothing"},
        "new_text": "something else",
        "actor": "Cy Member",
        "at": NOW + timedelta(days=1),
    }
    with connection(engine) as conn:
        changed = conn.execute(
            t.diary.update().where(t.diary.c.case_id == case_id, t.diary.c.seq == 2).values({column: edits[column]})
        )
        assert changed.rowcount == 1
    # then verify names that entry.
    assert verified(engine, case_id) == 2


def test_a_deleted_entry_breaks_the_chain_where_it_was(engine: Engine) -> None:
    with connection(engine) as conn:
        case_id = open_case(conn)
        for n in range(1, 4):
            diary.append(conn, case_id, note(n), at=NOW)
    with connection(engine) as conn:
        conn.execute(t.diary.delete().where(t.diary.c.case_id == case_id, t.diary.c.seq == 2))
    # The gap is named: entry 2 is missing (entry 3 follows entry 1).
    assert verified(engine, case_id) == 2


def test_an_edit_on_one_case_leaves_the_other_intact(engine: Engine) -> None:
    with connection(engine) as conn:
        one, two = open_case(conn, "first"), open_case(conn, "second")
        for case_id in (one, two, one, two):
            diary.append(conn, case_id, note(case_id), at=NOW, new_text="as written")
    with connection(engine) as conn:
        conn.execute(t.diary.update().where(t.diary.c.case_id == one, t.diary.c.seq == 1).values(new_text="rewritten"))
    assert verified(engine, one) == 1
    assert verified(engine, two) is None


def test_a_rolled_back_savepoint_does_not_leave_the_head_ahead(engine: Engine) -> None:
    """A refused command rolls back its savepoint (mailflow.committee.commands.execute); the
    transaction goes on, and its next entry must follow what is stored, not what was undone."""
    with connection(engine) as conn:
        case_id = open_case(conn)
        diary.append(conn, case_id, note(1), at=NOW)
        # When an entry is appended inside a savepoint that is then rolled back,
        with pytest.raises(Rollback), conn.begin_nested():
            assert diary.append(conn, case_id, note(2), at=NOW).seq == 2
            raise Rollback
        # then the head is the stored one again, and the next entry continues the stored sequence.
        assert diary.head(conn, case_id).seq == 1
        after = diary.append(conn, case_id, StateChanged("open", "new", "/state open"), at=NOW)
        assert after.seq == 2
    rows = stored(engine, case_id)
    assert [(r.seq, r.detail.get("command")) for r in rows] == [(1, "/note 1"), (2, None)]
    assert verified(engine, case_id) is None


def test_a_rolled_back_savepoint_forgets_the_head_of_a_case_it_started(engine: Engine) -> None:
    with connection(engine) as conn:
        case_id = open_case(conn)
        with pytest.raises(Rollback), conn.begin_nested():
            diary.append(conn, case_id, note(1), at=NOW)
            raise Rollback
        assert diary.append(conn, case_id, note(2), at=NOW).seq == 1
    assert verified(engine, case_id) is None


def test_a_released_savepoint_keeps_what_it_wrote(engine: Engine) -> None:
    with connection(engine) as conn:
        case_id = open_case(conn)
        with conn.begin_nested():
            diary.append(conn, case_id, note(1), at=NOW)
        assert diary.append(conn, case_id, note(2), at=NOW).seq == 2
    assert [r.seq for r in stored(engine, case_id)] == [1, 2]
    assert verified(engine, case_id) is None


def test_a_rolled_back_transaction_leaves_nothing_behind(engine: Engine) -> None:
    with connection(engine) as conn:
        case_id = open_case(conn)
        diary.append(conn, case_id, note(1), at=NOW)
    # When a transaction appends and then fails,
    with pytest.raises(Rollback), connection(engine) as conn:
        diary.append(conn, case_id, note(2), at=NOW)
        raise Rollback
    # then the next transaction continues from the stored entry 1.
    with connection(engine) as conn:
        assert diary.append(conn, case_id, note(3), at=NOW).seq == 2
    with Session(engine) as session:
        commands = session.scalars(
            select(DiaryEntry.detail).where(DiaryEntry.case_id == case_id).order_by(DiaryEntry.seq)  # type: ignore[arg-type]
        ).all()
    assert [d["command"] for d in commands] == ["/note 1", "/note 3"]
    assert verified(engine, case_id) is None


def test_an_empty_diary_verifies(engine: Engine) -> None:
    with connection(engine) as conn:
        case_id = open_case(conn)
        assert diary.head(conn, case_id) == diary.EMPTY
    assert verified(engine, case_id) is None
