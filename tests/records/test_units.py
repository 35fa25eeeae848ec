"""The records' pieces on their own: the migration over existing cases, the redaction of a diary,
the suppression of small counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, select, text, update
from sqlmodel import Session

from mailflow.case import diary
from mailflow.case.entries import CommandRun
from mailflow.database import alembic_config, make_engine, migrate
from mailflow.model import DiaryEntry
from mailflow.model import core as t
from mailflow.records import tables as r
from mailflow.records.transparency import suppress

NOW = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_the_migration_marks_existing_cases_and_goes_down_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.sqlite3'}"
    config = alembic_config(url)
    command.upgrade(config, "0006")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO cases (ref, year, number, state, created_at, updated_at, subject, imported) "
                "VALUES ('2026-0001', 2026, 1, 'open', '2026-11-01', '2026-11-01', 's', 0)"
            )
        )
    command.upgrade(config, "head")
    with engine.connect() as conn:
        [(case_id, sent)] = conn.execute(select(r.case_record.c.case_id, r.case_record.c.questionnaire_at)).all()
    assert case_id == 1 and sent is not None
    command.downgrade(config, "0006")
    command.upgrade(config, "head")


def test_a_redacted_diary_still_verifies_and_still_catches_an_edit(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'd.sqlite3'}")
    migrate(engine)
    with engine.begin() as conn:
        case_id = conn.execute(
            t.cases.insert().returning(t.cases.c.id),
            {"ref": "2026-0001", "year": 2026, "number": 1, "state": "closed", "created_at": NOW,
             "updated_at": NOW, "subject": "Jane", "imported": False},
        ).scalar_one()  # fmt: skip
        diary.started(conn, case_id)
        for n in range(3):
            diary.append(
                conn, case_id, CommandRun(f"/note Jane {n}", True, "noted"), at=NOW, actor="Ada",
                from_addr="jane@example.net", new_text="Jane wrote",
            )  # fmt: skip
        diary.redact(conn, case_id, keep_actors=frozenset({"Ada"}), reason="test", at=NOW)
        diary.append(conn, case_id, CommandRun("/note after", True, "noted"), at=NOW, actor="Ada")
    with Session(engine) as session:
        rows = diary.entries(session, case_id)
        assert [e.detail.get("redacted") for e in rows[:3]] == [4, 4, 4]
        assert all(e.from_addr is None and e.new_text is None for e in rows[:3])
        assert "Jane" not in str([e.detail for e in rows])
        assert diary.verify(session, case_id) is None
        session.execute(update(DiaryEntry).where(DiaryEntry.seq == 2).values(actor="Mallory"))  # type: ignore[arg-type]
        broken = diary.examine(diary.entries(session, case_id))
        assert broken is not None and broken.seq == 2 and "seal" in broken.why
        session.rollback()
        session.execute(update(DiaryEntry).where(DiaryEntry.seq == 1).values(new_text="back"))  # type: ignore[arg-type]
        broken = diary.examine(diary.entries(session, case_id))
        assert broken is not None and broken.seq == 1


def test_small_counts_are_hidden_and_one_more_where_one_alone_would_show() -> None:
    cells = suppress([("a", 10), ("b", 2), ("c", 7)], 5)
    assert [c.shown for c in cells] == ["10", "fewer than 5", "fewer than 5"]
    cells = suppress([("a", 10), ("b", 2), ("c", 3), ("d", 0)], 5)
    assert [c.shown for c in cells] == ["10", "fewer than 5", "fewer than 5", "0"]
