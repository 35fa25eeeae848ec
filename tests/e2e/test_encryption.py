"""Encryption at rest, end to end over real SMTP against the running service, on SQLite and
PostgreSQL: after a committee's whole flow no body, subject, name or address is in the database
files (SQLite: the file and its write-ahead log; PostgreSQL: every table's rows as ``pg_dump``
writes them); a wrong or missing key keeps the service from starting and writes nothing; ``mailflow
keys rotate`` moves everything to a new key and seals what was written before encryption, and the
diaries still verify."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailflow import rekey as rotation
from mailflow.case import diary as diaries
from mailflow.case import service as cases
from mailflow.crypt.check import KeyMismatch, recorded
from mailflow.database import connection
from mailflow.model import Case, DiaryEntry, NoticeDraft, OutboundKind, Party, PartyRole
from mailflow.model import core as t
from mailflow.records import evidence
from tests.support.cli import run
from tests.support.committee import ADA, AUTH, BO, REPORTER, deliver, member_mail, of_kind, open_case
from tests.support.crypt import ID_A, ID_B, KEY_A, KEY_B, KEY_C, pg_dump, sqlite_files, storage
from tests.support.mail import report
from tests.support.stack import Stack, write_config

REPORT = "At the Zanzibar sprint a participant hid my hedgehog sticker and mocked my accent.\n"
NEEDLES = [
    REPORTER,  # the reporter's address
    "Jane Reporter",  # and name
    "Zanzibar",  # words of the report
    "hedgehog",
    "marmalade",  # a member's internal reply
    "xylophone",  # the relay to the reporter
    "quokkas",  # the reporter's answer
    "eric@example.com",  # a party: address, name, alias
    "Eric Example",
    "ericthered",
    "two witnesses from Tasmania",  # the notice
    ADA,  # a member's address
    BO,
]


def whole_flow(stack: Stack, settings_overrides: dict[str, object]) -> tuple[Case, dict[int, str]]:
    """A report, a member's reply, a relay to the reporter and her answer, a party added with
    name, address and alias, a notice drafted, approved from the shell and sent."""
    settings = stack.settings(**AUTH, **settings_overrides)  # type: ignore[arg-type]
    service = stack.start(settings)
    case, addr = open_case(stack, service, REPORT, sender=f"Jane Reporter <{REPORTER}>")
    team, reporter = addr[cases.TEAM], addr[cases.REPORTER_CONVERSATION]
    deliver(stack, service, member_mail(ADA, team, "Let us ask about the marmalade remark.\n"), ADA, team)
    deliver(stack, service, member_mail(ADA, reporter, "Dear Jane,\n\nWhen did the xylophone start?\n"), ADA, reporter)
    answer = report("Re: your mail", "It started with the quokkas in June.\n", sender=f"Jane Reporter <{REPORTER}>")
    deliver(stack, service, answer, REPORTER, reporter)
    deliver(
        stack,
        service,
        member_mail(ADA, team, "/party reported Eric Example <eric@example.com> aka @ericthered\n"),
        ADA,
        team,
    )
    status = "/draft reporter/status-update\nstatus: We spoke with two witnesses from Tasmania.\n\nSoon.\n"
    deliver(stack, service, member_mail(BO, team, status), BO, team)
    with stack.session() as s:
        [draft] = s.scalars(select(NoticeDraft)).all()
    config = write_config(stack.tmp / "mailflow.toml", settings)
    done = run(config, "drafts", "approve", str(draft.id), "--as", "Ada Chair")
    assert done.returncode == 0, done.stderr
    stack.wait_until(lambda: bool(of_kind(stack, OutboundKind.NOTICE)), what="the notice")
    stack.wait_idle()
    # Everything the flow should have stored is there, and reads back in plaintext
    [notice] = of_kind(stack, OutboundKind.NOTICE)
    assert notice.recipients == [REPORTER]
    assert [o.recipients for o in of_kind(stack, OutboundKind.RELAY)] == [[REPORTER]]
    with stack.session() as s:
        parties = s.scalars(select(Party).where(Party.case_id == case.id)).all()
        assert ("Eric Example", "eric@example.com", ["@ericthered"]) in [
            (p.name, p.address, p.aliases) for p in parties
        ]
        assert any(p.role is PartyRole.REPORTER and p.address == REPORTER for p in parties)
        texts = " ".join(e.new_text or "" for e in s.scalars(select(DiaryEntry)))
        assert all(word in texts for word in ("hedgehog", "marmalade", "xylophone", "quokkas", "Tasmania"))
        assert diaries.verify(s, case.id) is None
    return case, addr


def at_rest(stack: Stack) -> bytes:
    """What the database keeps on disk (SQLite) or every table's rows (PostgreSQL), as bytes."""
    if stack.db_url:
        return pg_dump(stack.db_url)
    return sqlite_files(stack.tmp / "data" / "mailflow.sqlite3")


def plaintext_in(dumped: bytes) -> list[str]:
    """The needles found, as text or (PostgreSQL's bytea is dumped in hex) as hex."""
    low = dumped.lower()
    return [n for n in NEEDLES if n.lower().encode() in low or n.encode().hex().encode() in low]


def test_no_body_subject_name_or_address_is_in_the_database_after_a_whole_flow(db_stack: Stack) -> None:
    stack = db_stack
    keys = storage(stack.tmp / "keys", KEY_A)
    stack.defaults.update(keys)
    case, _addr = whole_flow(stack, keys)

    # While the service runs (SQLite: the WAL holds the newest pages) and after it stopped
    running = at_rest(stack)
    assert plaintext_in(running) == []
    assert f"mfenc1:{ID_A}:".encode() in running  # and the sealed values are there
    stack.stop_all()
    stopped = at_rest(stack)
    assert plaintext_in(stopped) == []

    # The keyed index of the acknowledgement's rate limit is no address either, and still finds it
    with stack.session() as s:
        rows = s.execute(select(t.outbound.c.kind, t.outbound.c.primary_recipient)).all()
        [index] = [p for kind, p in rows if kind is OutboundKind.ACKNOWLEDGEMENT]
        assert index.startswith(f"mfidx1:{ID_A}:")
        acks = select(func.count()).where(
            t.outbound.c.kind == OutboundKind.ACKNOWLEDGEMENT, t.outbound.c.primary_recipient == REPORTER
        )
        assert s.scalar(acks) == 1
        assert s.get(Case, case.id).subject.startswith("Report")  # type: ignore[union-attr]


def _snapshot(stack: Stack) -> bytes:
    if stack.db_url:
        return pg_dump(stack.db_url)
    database = stack.tmp / "data" / "mailflow.sqlite3"
    return database.read_bytes() + (Path(f"{database}-wal").read_bytes() if Path(f"{database}-wal").exists() else b"")


def test_a_wrong_or_missing_key_keeps_the_service_from_starting_and_writes_nothing(db_stack: Stack) -> None:
    stack = db_stack
    stack.defaults.update(storage(stack.tmp / "keys", KEY_A))
    service = stack.start(stack.settings(**AUTH))
    open_case(stack, service, REPORT)
    stack.stop_all()
    before = _snapshot(stack)

    with pytest.raises(KeyMismatch, match="does not match the one this database was written with"):
        stack.start(stack.settings(**AUTH, **storage(stack.tmp / "keys", KEY_B)))
    with pytest.raises(KeyMismatch, match="no encryption key is configured"):
        stack.start(stack.settings(**AUTH, storage={"encryption_key_file": None}))
    stack.stop_all()
    assert _snapshot(stack) == before

    # The command line says so too, with the configuration error's exit status
    config = write_config(stack.tmp / "wrong.toml", stack.settings(**storage(stack.tmp / "keys", KEY_B)))
    done = run(config, "init")
    assert done.returncode == 78
    assert b"does not match the one this database was written with" in done.stderr
    assert KEY_B.encode() not in done.stderr + done.stdout and KEY_A.encode() not in done.stderr + done.stdout
    assert _snapshot(stack) == before


def test_rotation_moves_every_value_to_the_new_key_and_the_diaries_still_verify(db_stack: Stack) -> None:
    stack = db_stack
    old = storage(stack.tmp / "keys", KEY_A)
    stack.defaults.update(old)
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service, REPORT, sender=f"Jane Reporter <{REPORTER}>")
    team = addr[cases.TEAM]
    deliver(
        stack,
        service,
        member_mail(ADA, team, "/party reported Eric Example <eric@example.com> aka @ericthered\n"),
        ADA,
        team,
    )
    stack.stop_all()

    # The new key first, the old one still there: rotate, from the shell
    both = storage(stack.tmp / "keys", KEY_B, KEY_A)
    config = write_config(stack.tmp / "both.toml", stack.settings(**both))
    done = run(config, "keys", "rotate", "--batch", "7")
    assert done.returncode == 0, done.stderr
    assert f"no value is sealed with key(s) {ID_A} any longer".encode() in done.stdout
    stack.defaults.update(storage(stack.tmp / "keys", KEY_B))
    with connection(stack.engine, read_only=True) as conn:
        assert list(recorded(conn)) == [ID_B]
    assert set(rotation.census(stack.engine).keys()) == {ID_B}
    dumped = at_rest(stack)
    assert f"mfenc1:{ID_A}".encode() not in dumped and f"mfidx1:{ID_A}".encode() not in dumped
    assert f"mfenc1:{ID_B}".encode() in dumped and plaintext_in(dumped) == []

    # Run again: nothing to do. The new key alone reads everything; diaries and messages verify
    again = rotation.rotate(stack.engine, compact=False)
    assert (sum(again.resealed.values()), sum(again.sealed.values())) == (0, 0)
    with stack.session() as s:
        assert all(evidence.verify(s, i, ref).intact for i, ref in evidence.case_refs(s.connection()))
    stack.stop_all()
    service = stack.start(stack.settings(**AUTH))
    with stack.session() as s:
        assert s.get(Case, case.id).subject.startswith("Report")  # type: ignore[union-attr]
        assert diaries.verify(s, case.id) is None
    answer = report("Re: my report", "And the quokkas again.\n", sender=f"Jane Reporter <{REPORTER}>")
    deliver(stack, service, answer, REPORTER, addr[cases.REPORTER_CONVERSATION])
    assert len(stack.cases()) == 1  # threaded into the same case, through the re-sealed records
    stack.stop_all()

    # And the old key alone is refused: the database no longer holds anything of it
    with pytest.raises(KeyMismatch, match="does not match"):
        stack.start(stack.settings(**AUTH, **old))
    # A third key added first, without the one in use, is refused too
    with pytest.raises(KeyMismatch):
        stack.start(stack.settings(**AUTH, **storage(stack.tmp / "keys", KEY_C)))


def test_plaintext_written_before_encryption_reads_and_rotate_seals_it(db_stack: Stack) -> None:
    stack = db_stack
    stack.defaults.update(storage={"encryption_key_file": None})  # off, also when the suite runs with it on
    _case, addr = whole_flow(stack, {})
    stack.stop_all()
    assert set(plaintext_in(at_rest(stack))) == set(NEEDLES)  # the search finds plaintext where it is

    # Encryption turned on: the old rows read as they are, new ones are sealed
    keys = storage(stack.tmp / "keys", KEY_A)
    stack.defaults.update(keys)
    service = stack.start(stack.settings(**AUTH))
    [case] = stack.cases()
    assert case.subject.startswith("Report")
    with stack.session() as s:
        assert diaries.verify(s, case.id) is None
    answer = report("Re: my report", "Sealed from now on: the wombat.\n", sender=f"Jane Reporter <{REPORTER}>")
    deliver(stack, service, answer, REPORTER, addr[cases.REPORTER_CONVERSATION])
    assert len(stack.cases()) == 1
    with stack.session() as s:
        assert any("wombat" in (e.new_text or "") for e in diaries.entries(s, case.id))
    stack.stop_all()
    assert b"wombat" not in at_rest(stack)

    config = write_config(stack.tmp / "on.toml", stack.settings(**keys))
    assert rotation.census(stack.engine).keys()[rotation.PLAINTEXT] > 0
    done = run(config, "keys", "rotate")
    assert done.returncode == 0, done.stderr
    assert b"plaintext value(s) sealed" in done.stdout
    status = run(config, "keys", "status", "--json")
    assert status.returncode == 0 and set(json.loads(status.stdout)["values"]) == {ID_A}
    dumped = at_rest(stack)
    assert plaintext_in(dumped) == []
    verified = run(config, "diary", "verify")
    assert verified.returncode == 0 and b"0 broken" in verified.stdout, verified.stdout
