"""``mailflow backup`` and ``mailflow restore``, as an operator runs them: real processes, a real
service taking mail over SMTP while the backup is made, a restore into an empty data directory
(SQLite) or a newly created database (PostgreSQL), and the check that every case's diary chain is
intact and every inbound message's bytes match their SHA-256.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from mailflow.model import Case, DiaryEntry, InboundMessage
from tests.support import services
from tests.support.cli import run
from tests.support.intake import Intake
from tests.support.mail import report
from tests.support.stack import Stack, make_settings, send, write_config


def _heads(stack_or_path: Stack | Path) -> dict[str, str]:
    """Each case's reference and the hash of its last diary entry (the whole chain's fingerprint)."""
    query = (
        "SELECT c.ref, d.hash FROM cases c JOIN diary_entry d ON d.case_id = c.id "
        "WHERE d.seq = (SELECT max(seq) FROM diary_entry WHERE case_id = c.id)"
    )
    if isinstance(stack_or_path, Path):
        with sqlite3.connect(stack_or_path) as conn:
            return dict(conn.execute(query).fetchall())
    from sqlalchemy import text

    with stack_or_path.engine.connect() as conn:
        return {ref: digest for ref, digest in conn.execute(text(query))}


def test_sqlite_backup_while_the_service_runs_and_restore_into_an_empty_data_directory(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start()
    config = write_config(stack.tmp / "mailflow.toml", stack.settings())
    for n in range(5):
        send(
            service.smtp_port or 0,
            report(subject=f"Before {n}", sender=f"R{n} <r{n}@example.net>"),
            sender=f"r{n}@x.net",
        )
    stack.wait_idle()

    # While mail keeps arriving, the operator takes a backup
    stop = threading.Event()

    def traffic() -> None:
        n = 0
        while not stop.is_set() and n < 60:
            raw = report(subject=f"During {n}", sender=f"D{n} <d{n}@example.net>")
            send(service.smtp_port or 0, raw, sender=f"d{n}@example.net")
            n += 1

    sender = threading.Thread(target=traffic)
    sender.start()
    try:
        backup_file = stack.tmp / "backups" / "mailflow-1.sqlite3"
        made = run(config, "backup", str(backup_file), "--verify", "--json")
    finally:
        stop.set()
        sender.join()
    assert made.returncode == 0, made.stderr
    result = json.loads(made.stdout)
    assert result["kind"] == "sqlite" and result["check"]["ok"] is True
    assert result["check"]["cases"] >= 5 and not (stack.tmp / "backups" / "mailflow-1.sqlite3.partial").exists()
    assert backup_file.read_bytes().startswith(b"SQLite format 3\x00")
    assert backup_file.stat().st_mode & 0o777 == 0o600  # confidential: the operator's alone
    stack.wait_idle()
    snapshot = _heads(backup_file)
    assert len(snapshot) >= 5

    # Restored into an empty data directory, everything verifies and matches the backup
    empty = write_config(stack.tmp / "restored.toml", make_settings(stack.tmp / "restored", None))
    restored = run(empty, "restore", str(backup_file), "--json")
    assert restored.returncode == 0, restored.stderr
    counts = json.loads(restored.stdout)
    assert counts["ok"] is True and counts["broken_diaries"] == [] and counts["bad_messages"] == []
    assert counts["cases"] == len(snapshot) and counts["inbound_messages"] >= counts["cases"]
    restored_db = stack.tmp / "restored" / "data" / "mailflow.sqlite3"
    assert _heads(restored_db) == snapshot
    assert set(snapshot) <= set(_heads(stack))  # the live service went on; the backup is a moment of it

    # A database that holds anything is never overwritten
    again = run(empty, "restore", str(backup_file))
    assert again.returncode == 1 and b"empty data directory" in again.stderr

    # The check fails where the evidence was changed: a diary entry, a message's bytes
    with sqlite3.connect(restored_db) as conn:
        ref, case_id = conn.execute("SELECT ref, id FROM cases ORDER BY id LIMIT 1").fetchone()
        conn.execute("UPDATE diary_entry SET new_text = 'rewritten' WHERE case_id = ? AND seq = 1", (case_id,))
        inbound_id, blob_id = conn.execute(
            "SELECT id, blob_id FROM inbound_message ORDER BY id DESC LIMIT 1"
        ).fetchone()
        conn.execute("UPDATE blob SET data = CAST('tampered' AS BLOB) WHERE id = ?", (blob_id,))
    checked = run(empty, "restore", "--check", "--json")
    assert checked.returncode == 1
    found = json.loads(checked.stdout)
    assert found["broken_diaries"] == [ref] and found["bad_messages"] == [inbound_id]
    text = run(empty, "restore", "--check").stdout.decode()
    assert f"BROKEN diary chain in case {ref}" in text and "check: FAILED" in text


def test_postgres_backup_with_pg_dump_and_restore_into_a_new_database(tmp_path: Path) -> None:
    with services.fresh_postgres_database() as source_url, services.fresh_postgres_database() as target_url:
        stack = Stack("postgres", tmp_path, source_url, "stub://")
        intake = Intake(stack)
        try:
            for n in range(4):
                intake.deliver(report(subject=f"Report {n}", sender=f"R{n} <r{n}@example.net>"))
            cases = stack.count(Case)
            entries = stack.count(DiaryEntry)
            inbound = stack.count(InboundMessage)
            heads = _heads(stack)
        finally:
            intake.close()
            stack.stop_all()
        source = write_config(tmp_path / "source.toml", stack.settings())
        archive = tmp_path / "mailflow.pgdump"
        made = run(source, "backup", str(archive), "--verify")
        assert made.returncode == 0, made.stderr
        assert archive.read_bytes().startswith(b"PGDMP") and b"archive readable" in made.stdout
        assert archive.stat().st_mode & 0o777 == 0o600

        target = write_config(tmp_path / "target.toml", make_settings(tmp_path / "target", target_url))
        restored = run(target, "restore", str(archive))
        assert restored.returncode == 0, restored.stderr + restored.stdout
        checked = json.loads(run(target, "restore", "--check", "--json").stdout)
        assert checked["ok"] is True
        assert (checked["cases"], checked["diary_entries"], checked["inbound_messages"]) == (cases, entries, inbound)
        copy = Stack("postgres", tmp_path / "copy", target_url, "stub://")
        try:
            assert _heads(copy) == heads
        finally:
            copy.stop_all()
        again = run(target, "restore", str(archive))
        assert again.returncode == 1 and b"already holds tables" in again.stderr
