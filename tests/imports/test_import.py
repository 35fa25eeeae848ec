"""Importing history: mbox, Maildir and an IMAP folder (a real Dovecot), in date order, without a
single acknowledgement, and idempotent. The mailboxes are written by the tests themselves."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner, Result

from mailflow.cli import app
from mailflow.imports.files import MaildirSource, MboxSource
from mailflow.imports.imap import ImapFolderSource
from mailflow.imports.run import ImportSummary, import_history
from mailflow.imports.source import Entry, date_order
from mailflow.model import DiaryEntry, DiaryKind, InboundMessage, InboundSource, InboundState, OutboundKind
from mailflow.runtime import Runtime
from tests.support.corpus import corpus_file
from tests.support.dovecot import DovecotServer
from tests.support.imap import PASSWORD, USER, Poller, flags, imap_section, settings, with_mailbox, write_imap_config
from tests.support.stack import Stack

MAILFLOW = [sys.executable, "-m", "mailflow"]


def message(
    mid: str,
    subject: str,
    *,
    sender: str = "Jane Reporter <jane@example.net>",
    date: str | None = "Mon, 02 Jun 2025 10:00:00 +0000",
    reply_to: str | None = None,
    body: str = "What happened, in my own words.",
) -> bytes:
    lines = [f"From: {sender}", "To: conduct@example.org", f"Subject: {subject}", f"Message-ID: <{mid}>"]
    if date is not None:
        lines.append(f"Date: {date}")
    if reply_to:
        lines += [f"In-Reply-To: <{reply_to}>", f"References: <{reply_to}>"]
    lines += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8", "", body, ""]
    return "\r\n".join(lines).encode()


# In file order a reply comes before the report it answers; by date (12:00 +0200 is 10:00 UTC) after.
REPLY = message(
    "reply@example.net",
    "Re: Harassment at the sprint",
    date="Mon, 02 Jun 2025 11:00:00 +0000",
    reply_to="parent@example.net",
    body="One more thing I remembered.",
)
OTHER = message(
    "other@example.net", "Spam in the forum", sender="Bo <bo@example.net>", date="Mon, 02 Jun 2025 09:00:00 +0000"
)
PARENT = message("parent@example.net", "Harassment at the sprint", date="Mon, 02 Jun 2025 12:00:00 +0200")
UNDATED = message(
    "undated@example.net", "A report without a usable date", sender="Cy <cy@example.net>", date="sometime last week"
)


def write_mbox(path: Path) -> Path:
    """An mbox written by hand: "From " lines with their own dates, the last one later than all."""
    separators = [
        "From jane@example.net Mon Jun  2 11:00:05 2025",
        "From bo@example.net Mon Jun  2 09:00:05 2025",
        "From jane@example.net Mon Jun  2 10:00:05 2025",
        "From cy@example.net Sat Jan  3 10:00:00 2026",  # the Date header is garbage: this date counts
    ]
    parts = []
    for separator, raw in zip(separators, (REPLY, OTHER, PARENT, UNDATED), strict=True):
        parts.append(separator.encode() + b"\n" + raw.replace(b"\r\n", b"\n") + b"\n")
    path.write_bytes(b"".join(parts))
    return path


def diary_kinds(stack: Stack, case_id: int) -> list[DiaryKind]:
    with stack.session() as s:
        return list(s.scalars(select(DiaryEntry.kind).where(DiaryEntry.case_id == case_id).order_by(DiaryEntry.seq)))


def no_mail_left(stack: Stack) -> bool:
    return stack.outbound() == [] and stack.delivered() == []


class Hook:
    """A progress observer that does something after the first chunk."""

    def __init__(self, action: object = None) -> None:
        self.total: int | None = None
        self.done = 0
        self._action = action

    def begin(self, total: int) -> None:
        self.total = total

    def advance(self, count: int) -> None:
        self.done += count
        if self._action is not None:
            action, self._action = self._action, None
            action()  # type: ignore[operator]

    def end(self) -> None:
        pass


@pytest.fixture
def runtime(db_stack: Stack) -> Iterator[Runtime]:
    built = Runtime.build(db_stack.settings())
    yield built
    built.close()


# -- ordering ------------------------------------------------------------------------------------


def test_date_order_puts_the_undated_last_and_keeps_ties_in_source_order() -> None:
    june = datetime(2025, 6, 2, tzinfo=UTC)
    entries = [
        Entry("a", 0, None, None),
        Entry("b", 1, june.replace(hour=11), None),
        Entry("c", 2, june.replace(hour=10), None),
        Entry("d", 3, None, None),
        Entry("e", 4, june.replace(hour=10), None),
    ]
    assert [e.key for e in date_order(entries)] == ["c", "e", "b", "a", "d"]


# -- mbox ------------------------------------------------------------------------------------------


def test_mbox_import_threads_in_date_order_sends_nothing_and_adds_nothing_the_second_time(
    db_stack: Stack, runtime: Runtime
) -> None:
    path = write_mbox(db_stack.tmp / "conduct.mbox")
    source = MboxSource(path)
    try:
        hook = Hook()
        summary = import_history(runtime, source, progress=hook)
    finally:
        source.close()

    assert (hook.total, hook.done) == (4, 4)
    assert (summary.read, summary.new, summary.already_present, summary.cases_opened) == (4, 4, 0, 3)
    other, sprint, undated = db_stack.cases()  # opened in date order
    assert (other.subject, sprint.subject, undated.subject) == (
        "Spam in the forum",
        "Harassment at the sprint",
        "A report without a usable date",
    )
    # The reply, first in the file, is in the report's case: it was taken after it.
    assert diary_kinds(db_stack, sprint.id) == [DiaryKind.REPORT, DiaryKind.MESSAGE]
    # Imported cases keep their own dates (12:00 +0200), and nobody was written to.
    assert sprint.created_at == datetime(2025, 6, 2, 10, 0, tzinfo=UTC)
    assert no_mail_left(db_stack)
    with db_stack.session() as s:
        stored = s.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
    assert {(m.source, m.notify) for m in stored} == {(InboundSource.IMPORT, False)}
    assert [m.origin["position"] for m in stored] == [1, 2, 0, 3]  # spooled in date order

    again = MboxSource(path)
    try:
        second = import_history(runtime, again)
    finally:
        again.close()
    assert (second.read, second.new, second.already_present, second.cases_opened) == (4, 0, 4, 0)
    assert len(db_stack.cases()) == 3 and db_stack.count(InboundMessage) == 4
    assert no_mail_left(db_stack)


def _summary_lines(stdout: str) -> dict[str, int]:
    rows = {}
    for line in stdout.splitlines():
        label, _, value = line.strip().rpartition("  ")
        if value.strip().isdigit():
            rows[label.strip()] = int(value)
    return rows


def test_the_import_command_shows_progress_and_a_summary(sqlite_stack: Stack, dovecot: DovecotServer) -> None:
    server = with_mailbox(dovecot)
    config = write_imap_config(sqlite_stack.tmp / "mailflow.toml", sqlite_stack, imap_section(server))
    path = write_mbox(sqlite_stack.tmp / "conduct.mbox")

    # As an operator runs it: a real process, with its progress bar on standard error
    env = {**os.environ, "MAILFLOW_CONFIG": str(config), "MAILFLOW_INTAKE__IMAP__PASSWORD": PASSWORD}
    first = subprocess.run(
        [*MAILFLOW, "import", "mbox", str(path)], capture_output=True, text=True, env=env, timeout=120, check=False
    )
    assert first.returncode == 0, first.stderr
    assert "importing" in first.stderr and "4/4" in first.stderr and "msg/s" in first.stderr
    assert f"Imported mbox {path}" in first.stdout
    rows = _summary_lines(first.stdout)
    assert {k: rows[k] for k in ("messages read", "new", "already present", "cases opened", "quarantined")} == {
        "messages read": 4,
        "new": 4,
        "already present": 0,
        "cases opened": 3,
        "quarantined": 0,
    }

    def mailflow(*args: str) -> Result:
        return CliRunner().invoke(
            app, ["--config", str(config), *args], env={"MAILFLOW_INTAKE__IMAP__PASSWORD": PASSWORD}
        )

    server.append(USER, "INBOX", OTHER)
    from_imap = mailflow("import", "imap", "--folder", "INBOX", "--quiet")
    assert from_imap.exit_code == 0 and from_imap.stderr == "", from_imap.output  # --quiet: no progress bar
    # The same mail through IMAP (CRLF line ends, so other bytes): recognised by its Message-ID.
    rows = _summary_lines(from_imap.stdout)
    assert (rows["new"], rows["copies of recorded mail (same Message-ID)"], rows["cases opened"]) == (1, 1, 0)

    missing_folder = mailflow("import", "imap", "--folder", "No such folder", "--quiet")
    assert missing_folder.exit_code == 78 and "no folder 'No such folder'" in missing_folder.stderr
    missing_file = mailflow("import", "mbox", str(sqlite_stack.tmp / "nothing.mbox"))
    assert missing_file.exit_code == 66 and "no mbox file" in missing_file.stderr
    assert no_mail_left(sqlite_stack)


# -- Maildir -------------------------------------------------------------------------------------


def test_maildir_import_orders_undated_mail_by_delivery_time_and_skips_mail_too_big(sqlite_stack: Stack) -> None:
    box = mailbox.Maildir(sqlite_stack.tmp / "Maildir", create=True)
    reply = message("md-reply@example.net", "Re: Slurs in chat", date=None, reply_to="md-parent@example.net")
    parent = message("md-parent@example.net", "Slurs in chat", date=None)
    huge = message("md-huge@example.net", "Screenshots", date=None, body="x" * 50_000)
    delivered = {}
    for raw, when in ((reply, 1_750_000_200), (huge, 1_750_000_300), (parent, 1_750_000_100)):
        key = box.add(raw)
        file = next((sqlite_stack.tmp / "Maildir").glob(f"*/{key}*"))
        os.utime(file, (when, when))
        delivered[key] = when
    box.close()

    runtime = Runtime.build(sqlite_stack.settings(intake={"max_message_size": 20_000}))
    try:
        source = MaildirSource(sqlite_stack.tmp / "Maildir")
        summary = import_history(runtime, source)
        source.close()
        again = import_history(runtime, MaildirSource(sqlite_stack.tmp / "Maildir"))
    finally:
        runtime.close()

    assert (summary.read, summary.new, summary.cases_opened, summary.too_big) == (3, 2, 1, 1)
    [case] = sqlite_stack.cases()
    assert case.subject == "Slurs in chat"
    assert diary_kinds(sqlite_stack, case.id) == [DiaryKind.REPORT, DiaryKind.MESSAGE]
    assert (again.new, again.already_present, again.cases_opened) == (0, 2, 0)
    assert no_mail_left(sqlite_stack)


# -- IMAP ------------------------------------------------------------------------------------------


def test_imap_import_leaves_mail_arriving_meanwhile_to_the_live_intake(db_stack: Stack, dovecot: DovecotServer) -> None:
    server = with_mailbox(dovecot)
    server.append(USER, "INBOX", REPLY, flags=[rb"\Seen"])
    server.append(USER, "INBOX", PARENT, flags=[rb"\Seen"])
    unread = server.append(USER, "INBOX", OTHER)
    live = message(
        "live@example.net",
        "Happening right now",
        sender="Dee <dee@example.net>",
        date="Tue, 03 Jun 2025 08:00:00 +0000",
    )
    imap = settings(db_stack, server)
    runtime = Runtime.build(imap)
    assert imap.intake.imap is not None
    try:
        with ImapFolderSource(imap.intake.imap, "INBOX", runtime.engine) as source:
            # A report arrives while the import runs (after its first message).
            hook = Hook(lambda: server.append(USER, "INBOX", live))
            summary = import_history(runtime, source, progress=hook, chunk=1)
    finally:
        runtime.close()

    assert (summary.read, summary.new, summary.cases_opened) == (3, 3, 2)
    assert [c.subject for c in db_stack.cases()] == ["Spam in the forum", "Harassment at the sprint"]
    assert no_mail_left(db_stack)
    assert flags(server)[unread] == set()  # read-only: not even \Seen was set

    # The live intake takes the newcomer, and only it, and answers it.
    intake = Poller(db_stack, server)
    try:
        result = intake.poller.poll_once()
    finally:
        intake.close()
    assert (result.fetched, result.new) == (1, 1)
    assert db_stack.cases()[-1].subject == "Happening right now"
    [ack] = [o for o in db_stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]
    assert ack.recipients == ["dee@example.net"]


def test_imap_import_takes_only_what_the_poller_has_read_already(sqlite_stack: Stack, dovecot: DovecotServer) -> None:
    server = with_mailbox(dovecot)
    server.append(USER, "INBOX", OTHER)
    intake = Poller(sqlite_stack, server)
    try:
        assert intake.poller.poll_once().new == 1  # the poller's watermark: UID 1
        server.append(USER, "INBOX", PARENT)  # live mail the poller has not read yet
        imap = intake.settings.intake.imap
        assert imap is not None
        with ImapFolderSource(imap, "INBOX", intake.runtime.engine) as source:
            summary: ImportSummary = import_history(intake.runtime, source)
            assert source.left_for_live == 1
        assert (summary.read, summary.new, summary.already_present) == (1, 0, 1)
        assert intake.poller.poll_once().new == 1  # and the poller still answers it
    finally:
        intake.close()
    assert len([o for o in sqlite_stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]) == 2


# -- a real archive ---------------------------------------------------------------------------------


def _threads(stack: Stack) -> set[frozenset[str]]:
    """The cases as sets of the Message-IDs recorded in them."""
    with stack.session() as s:
        rows = s.execute(
            select(InboundMessage.case_id, InboundMessage.message_id).where(
                InboundMessage.state == InboundState.PROCESSED
            )
        ).all()
    cases: dict[int | None, set[str]] = {}
    for case_id, message_id in rows:
        cases.setdefault(case_id, set()).add(message_id or "")
    return {frozenset(ids) for ids in cases.values()}


@pytest.mark.corpus
def test_a_real_list_archive_threads_the_same_whatever_the_order_of_the_file(tmp_path: Path) -> None:
    # Messages of a real mailing list (read in place from the shared corpus), written to one mbox
    # in their order and to another in reverse: imported by date, both make the same cases.
    archive = corpus_file("fedora-devel-list-2010-01/2010-January.mbox")
    original = mailbox.mbox(archive, create=False)
    reversed_path = tmp_path / "reversed.mbox"
    backwards = mailbox.mbox(reversed_path)
    head = original.keys()[:150]  # enough threads to tell, and quick
    forwards = mailbox.mbox(tmp_path / "forwards.mbox")
    for key in head:
        forwards.add(original.get_message(key))
    forwards.close()
    for key in reversed(head):
        backwards.add(original.get_message(key))
    backwards.close()
    original.close()

    partitions = []
    for name, path in (("as-is", tmp_path / "forwards.mbox"), ("reversed", reversed_path)):
        stack = Stack(name, tmp_path / name, None, "stub://")
        runtime = Runtime.build(stack.settings())
        source = MboxSource(path)
        try:
            summary = import_history(runtime, source)
        finally:
            source.close()
            runtime.close()
        assert summary.read == summary.new == 150 and summary.quarantined == 0
        assert no_mail_left(stack)
        partitions.append(_threads(stack))
        stack.stop_all()
    assert partitions[0] == partitions[1]
    assert 1 < len(partitions[0]) < 150  # replies joined the cases of what they answer


@pytest.mark.corpus
def test_a_real_list_month_imported_then_ticked_sends_nothing(tmp_path: Path) -> None:
    """The defect: a 292-message list month opened 65 cases, and the first tick fired 130 deadlines
    and queued 195 mails. History is recorded, not late: an import plans nothing unless asked, and
    then counts from the import, never from the messages' dates."""
    from mailflow.model import Case, CaseState, Deadline, OutboundMessage
    from tests.support.cli import run
    from tests.support.stack import write_config

    archive = corpus_file("fedora-devel-list-2010-01/2010-January.mbox")
    stack = Stack("import-tick", tmp_path / "plain", None, "stub://")
    config = write_config(tmp_path / "plain.toml", stack.settings())

    # Given the month imported as it comes, and a tick a month later
    imported = run(config, "import", "mbox", str(archive), "--quiet")
    assert imported.returncode == 0, imported.stderr
    ticked = run(config, "tick", "--now", "2026-12-31T00:00:00+00:00")

    # Then nothing fired and nothing waits to leave: no alert, no draft, no approval request
    assert b"0 deadline(s) fired" in ticked.stdout, ticked.stdout + ticked.stderr
    assert stack.count(OutboundMessage) == 0 and stack.count(Deadline) == 0
    opened = stack.count(Case)
    assert opened > 10
    stack.stop_all()

    # Given the same month imported as closed history, and as cases the committee takes up
    closed = Stack("closed", tmp_path / "closed", None, "stub://")
    closed_config = write_config(tmp_path / "closed.toml", closed.settings())
    assert run(closed_config, "import", "mbox", str(archive), "-q", "--state", "closed").returncode == 0
    with closed.session() as s:
        assert {c.state for c in s.scalars(select(Case))} == {CaseState.CLOSED}
    closed.stop_all()

    live = Stack("live", tmp_path / "live", None, "stub://")
    live_config = write_config(tmp_path / "live.toml", live.settings())
    before = datetime.now(UTC)
    assert run(live_config, "import", "mbox", str(archive), "-q", "--state", "open", "--deadlines").returncode == 0
    with live.session() as s:
        planned = list(s.scalars(select(Deadline)))
    # one status update per case, counted from the import, nothing from 2010; no acknowledgement due
    assert len(planned) == opened and {d.name for d in planned} == {"status-update-1"}
    assert all(d.due_at >= before for d in planned)
    assert b"0 deadline(s) fired" in run(live_config, "tick").stdout
    bad = run(live_config, "import", "mbox", str(archive), "--state", "resolved")
    assert bad.returncode == 64 and b"--state is one of" in bad.stdout + bad.stderr
    live.stop_all()
