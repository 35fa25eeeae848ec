"""The list commands page: ``--limit``, ``--all``, ``--state``, ``--since``, and a line saying when
more exist (on standard error with ``--json``, so that standard output stays one JSON list).

Real processes (``python -m mailflow``) on a real database; the rows come through the pipeline.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailflow.cli.lists import DEFAULT_LIMIT, parse_since
from tests.support.cli import run
from tests.support.intake import Intake
from tests.support.mail import report
from tests.support.stack import Stack, write_config


@pytest.fixture
def filled(db_stack: Stack) -> Iterator[Path]:
    """Five reports (five cases, five acknowledgements and five committee copies) and three
    messages that could not be parsed."""
    intake = Intake(db_stack)
    try:
        for n in range(5):
            intake.deliver(report(subject=f"Report {n}", sender=f"Reporter {n} <r{n}@example.net>"))
        for n in range(3):
            intake.deliver(f"\x00\x01 not a message {n} \xff\r\n".encode("latin-1"))
    finally:
        intake.close()
    yield write_config(db_stack.tmp / "mailflow.toml", db_stack.settings())


def _json(config: Path, *args: str) -> tuple[list[dict[str, object]], str]:
    done = run(config, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr.decode()


def test_each_list_pages_and_says_when_more_exist(filled: Path) -> None:
    rows, note = _json(filled, "cases", "list", "--limit", "3")
    assert [r["subject"] for r in rows] == ["Report 4", "Report 3", "Report 2"]  # newest first
    assert "3 of 5 cases shown" in note and "2 more" in note

    rows, note = _json(filled, "cases", "list", "--all")
    assert len(rows) == 5 and note == ""

    rows, note = _json(filled, "outbox", "list", "--limit", "4")
    assert len(rows) == 4 and "4 of 10 outgoing mails shown" in note
    rows, note = _json(filled, "outbox", "list", "--state", "sent", "--limit", "20")
    assert len(rows) == 10 and {r["state"] for r in rows} == {"sent"} and note == ""
    rows, _ = _json(filled, "outbox", "list", "--state", "held")
    assert rows == []

    rows, note = _json(filled, "quarantine", "list", "--limit", "1")
    assert len(rows) == 1 and "1 of 3 quarantined messages shown" in note

    rows, note = _json(filled, "drafts", "list")
    assert rows == [] and note == ""
    rows, note = _json(filled, "held", "list", "--all")
    assert rows == [] and note == ""

    # A table says it under the table, on standard output
    table = run(filled, "cases", "list", "--limit", "2").stdout.decode()
    assert "Report 4" in table and "Report 2" not in table and "2 of 5 cases shown" in table


def test_state_and_since_filter(filled: Path) -> None:
    rows, _ = _json(filled, "cases", "list", "--state", "new")
    assert len(rows) == 5
    rows, _ = _json(filled, "cases", "list", "--state", "closed")
    assert rows == []
    rows, _ = _json(filled, "cases", "list", "--since", "2999-01-01")
    assert rows == []
    rows, _ = _json(filled, "cases", "list", "--since", "1h")
    assert len(rows) == 5

    bad = run(filled, "cases", "list", "--state", "nonsense")
    assert bad.returncode == 2 and b"one of new, open" in bad.stderr
    bad = run(filled, "outbox", "list", "--since", "last tuesday")
    assert bad.returncode == 2 and b"--since" in bad.stderr


def test_the_default_page_is_not_silently_cut(sqlite_stack: Stack) -> None:
    intake = Intake(sqlite_stack)
    try:
        for n in range(DEFAULT_LIMIT + 2):
            intake.deliver(report(subject=f"Report {n}"), send=False)
    finally:
        intake.close()
    config = write_config(sqlite_stack.tmp / "mailflow.toml", sqlite_stack.settings())
    rows, note = _json(config, "cases", "list")
    assert len(rows) == DEFAULT_LIMIT
    assert f"{DEFAULT_LIMIT} of {DEFAULT_LIMIT + 2} cases shown" in note
    rows, _ = _json(config, "cases", "list", "--all")
    assert len(rows) == DEFAULT_LIMIT + 2


def test_since_reads_iso_times_and_ages() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    assert parse_since("7d", now) == datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now) == datetime(2026, 12, 1, 11, 30, tzinfo=UTC)
    assert parse_since("2026-11-30") == datetime(2026, 11, 30, tzinfo=UTC)
    assert parse_since("2026-11-30T09:00+01:00") == datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
