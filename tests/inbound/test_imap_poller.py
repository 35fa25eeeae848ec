"""The IMAP intake against a real Dovecot (tests/support/dovecot.py): IDLE, a backlog, a server
restarted mid-fetch, a new UIDVALIDITY, flag and move, logins that work and logins that fail."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imapclient import IMAPClient
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from mailflow.cli import app
from mailflow.config import ImapSettings, load_settings
from mailflow.errors import ConfigError
from mailflow.inbound.imap_session import ImapLoginFailed, ImapTlsFailed, ImapUnavailable
from mailflow.model import (
    Blob,
    DiaryEntry,
    DiaryKind,
    InboundMessage,
    InboundSource,
    InboundState,
    OutboundKind,
    OutboundState,
)
from mailflow.model.tables import ImapWatermark
from tests.support import trace
from tests.support.dovecot import DovecotServer
from tests.support.imap import (
    KEYWORD,
    PASSWORD,
    USER,
    Poller,
    bodies,
    flags,
    imap_section,
    reports,
    settings,
    with_mailbox,
    write_imap_config,
)
from tests.support.stack import Stack
from tests.support.trace import imap_trace

EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config" / "mailflow.example.toml"


@pytest.fixture
def server(dovecot: DovecotServer) -> DovecotServer:
    return with_mailbox(dovecot)


@pytest.fixture
def poller(db_stack: Stack, server: DovecotServer) -> Iterator[Poller]:
    intake = Poller(db_stack, server)
    yield intake
    intake.close()


def inbound_count(stack: Stack, *where: object) -> int:
    return stack.count(InboundMessage, *where)


def distinct_message_ids(stack: Stack) -> int:
    with stack.session() as s:
        return int(s.scalar(select(func.count(func.distinct(InboundMessage.message_id)))) or 0)


def all_marked(server: DovecotServer) -> bool:
    try:
        return all(f == {rb"\Seen", KEYWORD} for f in flags(server).values())
    except (OSError, IMAPClient.Error):  # the server is being restarted
        return False


def acknowledgements(stack: Stack) -> list[OutboundKind]:
    return [o.kind for o in stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]


# -- new mail ------------------------------------------------------------------------------------


def test_a_report_arriving_while_the_poller_idles_becomes_a_case_and_is_acknowledged(
    db_stack: Stack, server: DovecotServer
) -> None:
    # Given the service running with the IMAP intake, waiting in IDLE (poll_seconds is 600: only
    # IDLE can wake it within this test)
    service = db_stack.start(settings(db_stack, server))
    assert service.imap is not None
    db_stack.wait_until(service.imap.waiting.is_set, 30, "the poller to wait in IDLE")

    # When a report arrives in the mailbox
    uid = server.append(USER, "INBOX", reports(1)[0])

    # Then it becomes a case, and the reporter's acknowledgement is sent
    db_stack.wait_until(lambda: len(db_stack.cases()) == 1, 30, "a case from the IMAP message")
    db_stack.wait_idle()
    [ack] = [o for o in db_stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]
    assert (ack.kind, ack.state, ack.recipients) == (
        OutboundKind.ACKNOWLEDGEMENT,
        OutboundState.SENT,
        ["reporter1@example.net"],
    )
    with db_stack.session() as s:
        [inbound] = s.scalars(select(InboundMessage)).all()
        assert inbound.source is InboundSource.IMAP and inbound.mail_from is None and inbound.notify
        assert {k: inbound.origin[k] for k in ("folder", "uid")} == {"folder": "INBOX", "uid": uid}
        assert inbound.origin["uidvalidity"] == server.uidvalidity(USER)
        stored = s.get(Blob, inbound.blob_id).data  # type: ignore[union-attr]
        assert imap_trace("127.0.0.1").fullmatch(trace.split(stored, reports(1)[0]))
        kinds = s.scalars(select(DiaryEntry.kind).order_by(DiaryEntry.seq)).all()
    assert kinds[0] is DiaryKind.REPORT and DiaryKind.SENT in kinds  # the report, and our answer
    # And the message is marked on the server, after the bytes were stored
    assert flags(server) == {uid: {rb"\Seen", KEYWORD}}

    # And the service stops the poller with everything else
    db_stack.stop_all()
    assert not [t for t in threading.enumerate() if t.name == "imap-poller"]


def test_without_idle_the_poller_polls(sqlite_stack: Stack, server: DovecotServer) -> None:
    service = sqlite_stack.start(settings(sqlite_stack, server, idle=False, poll_seconds=0.2))
    server.append(USER, "INBOX", reports(1)[0])
    sqlite_stack.wait_until(lambda: len(sqlite_stack.cases()) == 1, 30, "a case from the polled message")
    assert service.imap is not None and service.imap.connections == 1


# -- volume, failures, renumbering -----------------------------------------------------------------


def test_a_backlog_of_1000_messages(
    sqlite_stack: Stack, server: DovecotServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.append_many(USER, "INBOX", reports(1000))
    intake = Poller(sqlite_stack, server)
    try:
        started = time.perf_counter()
        result = intake.poller.poll_once()
        elapsed = time.perf_counter() - started
    finally:
        intake.close()
    with capsys.disabled():
        print(f"\n[imap intake] 1000-message backlog fetched, stored, processed and acknowledged in {elapsed:.1f}s")

    assert (result.fetched, result.new) == (1000, 1000)
    assert inbound_count(sqlite_stack, InboundMessage.state == InboundState.PROCESSED) == 1000
    assert len(sqlite_stack.cases()) == 1000
    assert len(acknowledgements(sqlite_stack)) == 1000
    assert all(f == {rb"\Seen", KEYWORD} for f in flags(server).values())
    with sqlite_stack.session() as s:
        [mark] = s.scalars(select(ImapWatermark)).all()
    assert (mark.folder, mark.last_uid) == ("INBOX", 1000)


@pytest.mark.parametrize("graceful", [True, False], ids=["shutdown", "crash"])
def test_the_server_restarted_mid_fetch_loses_nothing_and_duplicates_nothing(
    sqlite_stack: Stack, server: DovecotServer, graceful: bool
) -> None:
    server.append_many(USER, "INBOX", reports(120))
    intake = Poller(sqlite_stack, server, batch_size=50)
    restarted = threading.Event()

    def restart_after_the_first_commit(inbound_ids: list[int]) -> None:
        # The first batch is committed, not yet marked on the server: now the server goes away.
        if not restarted.is_set():
            restarted.set()
            server.restart(graceful=graceful)
        intake.process(inbound_ids)

    intake.on_committed = restart_after_the_first_commit  # type: ignore[method-assign]
    try:
        intake.poller.start()
        sqlite_stack.wait_until(lambda: all_marked(server), 60, "every message to be marked")
    finally:
        intake.close()

    assert restarted.is_set() and intake.poller.connections >= 2  # it did reconnect
    assert inbound_count(sqlite_stack) == 120 == distinct_message_ids(sqlite_stack)
    assert len(sqlite_stack.cases()) == 120
    assert len(acknowledgements(sqlite_stack)) == 120


def test_a_new_uidvalidity_reads_the_folder_again_without_duplicates(
    db_stack: Stack, server: DovecotServer, poller: Poller
) -> None:
    dovecot = server
    dovecot.append_many(USER, "INBOX", reports(3))
    assert poller.poller.poll_once().new == 3
    dovecot.append(USER, "INBOX", reports(1, first=4)[0])  # arrives, not yet read...
    before = dovecot.uidvalidity(USER)
    after = dovecot.reset_uidvalidity(USER)  # ... and the server renumbers the folder

    again = poller.poller.poll_once()

    assert after != before
    assert again.passes[0].rescanned and again.fetched == 4 and again.new == 1
    assert inbound_count(db_stack) == 4 == distinct_message_ids(db_stack)
    assert len(db_stack.cases()) == 4 and len(acknowledgements(db_stack)) == 4
    with db_stack.session() as s:
        marks = {m.uidvalidity: m.last_uid for m in s.scalars(select(ImapWatermark))}
    assert marks == {before: 3, after: 4}


# -- what happens on the server ---------------------------------------------------------------------


def test_flag_marks_seen_and_the_keyword_and_leaves_read_history_alone(
    sqlite_stack: Stack, server: DovecotServer
) -> None:
    history = server.append(USER, "INBOX", reports(1, subject="Old")[0], flags=[rb"\Seen"])
    fresh = server.append(USER, "INBOX", reports(1, subject="New")[0])
    intake = Poller(sqlite_stack, server)  # first_poll = "unseen": read mail is history
    try:
        assert intake.poller.poll_once().fetched == 1
        later = server.append(USER, "INBOX", reports(1, subject="Later")[0])
        assert intake.poller.poll_once().fetched == 1
    finally:
        intake.close()
    assert flags(server) == {history: {rb"\Seen"}, fresh: {rb"\Seen", KEYWORD}, later: {rb"\Seen", KEYWORD}}
    assert [c.subject for c in sqlite_stack.cases()] == ["New 1", "Later 1"]


def test_move_takes_the_message_out_of_the_folder_and_deletes_nothing(db_stack: Stack, server: DovecotServer) -> None:
    raws = reports(3)
    server.append_many(USER, "INBOX", raws)
    intake = Poller(db_stack, server, after="move", processed_folder="Conduct/Processed")
    try:
        assert intake.poller.poll_once().new == 3
        assert intake.poller.poll_once().fetched == 0
    finally:
        intake.close()
    assert bodies(server, "INBOX") == []
    assert bodies(server, "Conduct/Processed") == raws  # created on first use; every message intact
    assert len(db_stack.cases()) == 3


# -- logins -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("security", ["tls", "starttls", "none"])
def test_implicit_tls_starttls_and_plain_on_loopback(sqlite_stack: Stack, server: DovecotServer, security: str) -> None:
    port = server.imaps_port if security == "tls" else server.imap_port
    server.append(USER, "INBOX", reports(1)[0])
    intake = Poller(sqlite_stack, server, security=security, port=port)
    try:
        assert intake.poller.poll_once().new == 1
    finally:
        intake.close()


def test_xoauth2_login_with_a_bearer_token(sqlite_stack: Stack, server: DovecotServer) -> None:
    token = "ya29.mailflow-test-" + "t" * 32
    server.add_oauth_token(USER, token)
    server.append(USER, "INBOX", reports(1)[0])
    intake = Poller(sqlite_stack, server, security="tls", port=server.imaps_port, password=None, oauth2_token=token)
    try:
        assert intake.poller.poll_once().new == 1
    finally:
        intake.close()


def test_a_token_command_gives_each_login_a_fresh_token(
    sqlite_stack: Stack, server: DovecotServer, tmp_path: Path
) -> None:
    # A stand-in for a provider's token helper: prints the token currently in a file
    current = tmp_path / "token"
    helper = tmp_path / "token-helper"
    helper.write_text(f"#!{sys.executable}\nimport sys\nprint(open(sys.argv[1]).read())\n")
    helper.chmod(0o755)
    command = f"{helper} '{current}'"

    first, second = "ya29.first-" + "a" * 24, "ya29.second-" + "b" * 24
    server.add_oauth_token(USER, first)
    current.write_text(first)
    server.append(USER, "INBOX", reports(1)[0])
    intake = Poller(sqlite_stack, server, password=None, oauth2_token_command=command)
    try:
        assert intake.poller.poll_once().new == 1
        # The provider rotates the token: the next login runs the helper again and gets the new one
        server.add_oauth_token(USER, second)
        current.write_text(second)
        server.append(USER, "INBOX", reports(1, first=2)[0])
        assert intake.poller.poll_once().new == 1
    finally:
        intake.close()

    # A helper that fails is a temporary failure (retried), one that is missing or prints nothing is
    # a configuration error; neither message quotes what the helper printed
    failing = tmp_path / "failing-helper"
    failing.write_text(f"#!{sys.executable}\nimport sys\nprint('{first}')\nsys.exit('token service down')\n")
    failing.chmod(0o755)
    for cmd, error, text in (
        (str(failing), ImapUnavailable, "exited with status 1: token service down"),
        (str(tmp_path / "missing"), ImapLoginFailed, "no program"),
        (f"{helper} '{tmp_path / 'empty'}'", ImapLoginFailed, "must print one bearer token"),
    ):
        (tmp_path / "empty").write_text("")
        broken = Poller(sqlite_stack, server, password=None, oauth2_token_command=cmd)
        with pytest.raises(error, match=text) as raised:
            broken.poller.poll_once()
        broken.close()
        assert first not in str(raised.value)


def test_login_failures_are_reported_clearly(sqlite_stack: Stack, server: DovecotServer) -> None:
    wrong = Poller(sqlite_stack, server, password="not the password")
    with pytest.raises(ImapLoginFailed) as refused:
        wrong.poller.poll_once()
    wrong.close()
    text = str(refused.value)
    assert f"127.0.0.1:{server.imap_port}" in text and "refused the login" in text
    assert "AUTHENTICATIONFAILED" in text and "MAILFLOW_INTAKE__IMAP__PASSWORD" in text
    assert "not the password" not in text and USER not in text

    token = Poller(sqlite_stack, server, password=None, oauth2_token="expired-token")
    with pytest.raises(ImapLoginFailed, match="OAuth2 token"):
        token.poller.poll_once()
    token.close()

    untrusted = Poller(sqlite_stack, server, ca_file=None)  # the harness's CA is not a public one
    with pytest.raises(ImapTlsFailed, match="certificate is not trusted"):
        untrusted.poller.poll_once()
    untrusted.close()

    server.stop()
    down = Poller(sqlite_stack, server)
    with pytest.raises(ImapUnavailable, match="connection refused"):
        down.poller.poll_once()
    down.close()


def _mailflow(config: Path, *args: str, password: str = PASSWORD) -> Result:
    """The ``mailflow`` command, in this process (tests/cli runs it as a real process)."""
    return CliRunner().invoke(app, ["--config", str(config), *args], env={"MAILFLOW_INTAKE__IMAP__PASSWORD": password})


def test_imap_poll_once_exit_statuses(sqlite_stack: Stack, server: DovecotServer) -> None:
    db_stack = sqlite_stack
    config = write_imap_config(db_stack.tmp / "mailflow.toml", db_stack, imap_section(server))
    server.append(USER, "INBOX", reports(1)[0])

    done = _mailflow(config, "imap", "poll", "--once")
    assert done.exit_code == 0, done.output
    assert "1 message(s) fetched, 1 new" in done.stdout
    assert len(db_stack.cases()) == 1 and len(acknowledgements(db_stack)) == 1

    refused = _mailflow(config, "imap", "poll", "--once", password="wrong")
    assert refused.exit_code == 77  # EX_NOPERM
    assert "refused the login" in refused.stderr and "[intake.imap]" in refused.stderr

    bad = write_imap_config(
        db_stack.tmp / "bad.toml", db_stack, imap_section(server, host="imap.example.org", security="none")
    )
    invalid = _mailflow(bad, "imap", "poll", "--once")
    assert invalid.exit_code == 78 and "only for 127.0.0.1 or localhost" in invalid.stderr

    server.stop()
    down = _mailflow(config, "imap", "poll", "--once")
    assert down.exit_code == 75 and "connection refused" in down.stderr  # EX_TEMPFAIL


# -- configuration --------------------------------------------------------------------------------


def test_the_example_configuration_documents_every_key(tmp_path: Path) -> None:
    text = EXAMPLE_CONFIG.read_text()
    block = text[text.index("# [intake.imap]") : text.index("[outgoing]")]
    settings_lines = [line for line in block.splitlines() if re.match(r"# (\[intake\.imap\]$|\w+ = )", line)]
    documented = {line[2:].split(" = ")[0] for line in settings_lines[1:]}
    assert documented == set(ImapSettings.model_fields)
    # Uncommented (with a password in its place), the block is a valid configuration.
    enabled = text
    for line in settings_lines:
        enabled = enabled.replace(line + "\n", line.removeprefix("# ") + "\n", 1)
    enabled = enabled.replace('oauth2_token = ""\n', "").replace('password = ""', 'password = "x"')
    enabled = re.sub(r'oauth2_token_command = ".*"\n', "", enabled)
    enabled = enabled.replace('ca_file = "/etc/mailflow/imap-ca.pem"', f'ca_file = "{EXAMPLE_CONFIG}"')
    path = tmp_path / "enabled.toml"
    path.write_text(enabled)
    imap = load_settings(path).intake.imap
    assert imap is not None and imap.effective_port == 993 and imap.folders == ["INBOX"]


def test_the_password_comes_from_the_environment_and_bad_settings_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "imap.toml"
    path.write_text('[intake.imap]\nhost = "imap.example.org"\nusername = "conduct@example.org"\n')
    monkeypatch.setenv("MAILFLOW_INTAKE__IMAP__PASSWORD", "from the environment")
    imap = load_settings(path).intake.imap
    assert imap is not None and imap.password is not None
    assert imap.password.get_secret_value() == "from the environment" and imap.security == "tls"

    monkeypatch.delenv("MAILFLOW_INTAKE__IMAP__PASSWORD")
    for extra, why in [
        ("", "set exactly one of password"),
        ('password = "x"\noauth2_token_command = "helper"\n', "set exactly one of password"),
        ('oauth2_token_command = "helper \'unclosed"\n', "cannot be read as a command"),
        ('password = "x"\nafter = "move"\n', "needs processed_folder"),
        ('password = "x"\nkeyword = "two words"\n', "IMAP keyword"),
        ('password = "x"\nsecurity = "none"\n', "only for 127.0.0.1"),
    ]:
        path.write_text('[intake.imap]\nhost = "imap.example.org"\nusername = "c@example.org"\n' + extra)
        with pytest.raises(ConfigError, match=why):
            load_settings(path)
