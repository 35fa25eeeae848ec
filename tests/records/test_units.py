"""The records' pieces on their own: the migration over existing cases, the redaction of a diary,
the suppression of small counts, retention over a long history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from alembic import command
from sqlalchemy import create_engine, select, text, update
from sqlmodel import Session

from mailflow.case import diary
from mailflow.case.entries import CommandRun
from mailflow.config import Settings
from mailflow.database import alembic_config, make_engine, migrate
from mailflow.model import DiaryEntry
from mailflow.model import core as t
from mailflow.records import retention
from mailflow.records import tables as r
from mailflow.records.facts import load
from mailflow.records.transparency import suppress
from tests.support import services

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


def test_retention_over_a_history_larger_than_a_statement_may_bind_judges_the_closed_cases() -> None:
    """Given 70,000 cases on PostgreSQL (more ids than one statement may bind: 65,535), three of
    them closed six years ago (past the longest period, five), one of those linked to a case still open,
    and one closed today
    When retention judges them
    Then it reads the closed cases (and the open one they are linked to) and judges each: the
    unlinked ones expired, the linked one held by its link, today's not; the scheduler's run
    (``due_only``) does not read today's; every case still loads."""
    with services.fresh_postgres_database() as url:
        engine = make_engine(url)
        migrate(engine)
        old = NOW - timedelta(days=6 * 365)
        with engine.begin() as conn:
            conn.execute(
                t.cases.insert(),
                [
                    {"ref": f"2026-{n:05d}", "year": 2026, "number": n, "state": "closed" if n <= 4 else "open",
                     "created_at": old if n <= 3 else NOW, "updated_at": old if n <= 3 else NOW, "subject": "",
                     "imported": n > 3}
                    for n in range(1, 70_001)
                ],
            )  # fmt: skip
            ids = dict(conn.execute(select(t.cases.c.ref, t.cases.c.id)).all())
            conn.execute(
                r.case_link.insert(),
                {"case_id": ids["2026-00003"], "other_case_id": ids["2026-69999"], "kind": "same",
                 "created_at": NOW, "created_by": "Ada"},
            )  # fmt: skip
        with engine.connect() as conn:
            verdicts = {v.ref: v for v in retention.judge(conn, Settings(), NOW)}
            assert sorted(verdicts) == ["2026-00001", "2026-00002", "2026-00003", "2026-00004"]
            assert not verdicts["2026-00004"].expired
            due = retention.judge(conn, Settings(), NOW, due_only=True)
            assert sorted(v.ref for v in due) == ["2026-00001", "2026-00002", "2026-00003"]
            assert verdicts["2026-00001"].expired and verdicts["2026-00002"].expired
            assert not verdicts["2026-00003"].expired and verdicts["2026-00003"].why == "linked to 2026-69999"
            everything = load(conn, list(ids.values()))
            assert len(everything) == 70_000 and len(load(conn)) == 70_000
            [linked] = [f for f in everything if f.ref == "2026-69999"]
            assert [(link.kind, link.other_ref) for link in linked.links] == [("same", "2026-00003")]
        engine.dispose()
