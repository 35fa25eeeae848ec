"""The Dovecot test harness itself: a real IMAP server that behaves as the IMAP intake expects."""

from __future__ import annotations

import shutil
import socket
import ssl
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from imapclient import IMAPClient
from imapclient.exceptions import LoginError

from tests.support import dovecot as dovecot_module
from tests.support.dovecot import (
    INSTALL_HINT,
    DovecotError,
    DovecotServer,
    dovecot_binary,
    dovecot_version,
    live_processes_in_group,
)
from tests.support.strict import unavailable

USER = "conduct@example.org"
PASSWORD = "correct horse: battery staple"

BODY_PEEK = b"BODY.PEEK[]"
BODY = b"BODY[]"


def message(n: int = 1, subject: str = "Report") -> bytes:
    """A small RFC 5322 message with CRLF line ends and some 8-bit UTF-8 in its body."""
    return (
        f"From: Reporter {n} <reporter{n}@example.net>\r\n"
        f"To: conduct@example.org\r\n"
        f"Subject: {subject} {n}\r\n"
        f"Message-ID: <report-{n}@example.net>\r\n"
        "Date: Mon, 02 Jun 2025 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        f"Message number {n}. Naïve café — résumé.\r\n"
    ).encode()


@pytest.fixture
def server(dovecot: DovecotServer) -> DovecotServer:
    dovecot.add_user(USER, PASSWORD)
    return dovecot


@pytest.fixture
def stopped_server(tls_ca: trustme.CA) -> Iterator[DovecotServer]:
    """A configured DovecotServer that has not been started."""
    if dovecot_binary() is None:
        unavailable(INSTALL_HINT)
    base_dir = Path(tempfile.mkdtemp(prefix="mailflow-dovecot-"))
    server = DovecotServer(base_dir, tls_ca)
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(base_dir, ignore_errors=True)


def stored_flags(flags: object) -> tuple[bytes, ...]:
    """Message flags without the session flag \\Recent."""
    return tuple(flag for flag in flags if flag != rb"\Recent")  # type: ignore[attr-defined]


def fetch_all(client: IMAPClient) -> dict[int, dict[bytes, object]]:
    return client.fetch(client.search(["ALL"]), [BODY_PEEK, "FLAGS"])


def test_dovecot_version_is_detected() -> None:
    if dovecot_binary() is None:
        unavailable(INSTALL_HINT)
    assert dovecot_version() >= (2, 3)


def test_without_dovecot_the_fixture_skips_or_fails_under_strict(monkeypatch, tls_ca: trustme.CA) -> None:
    monkeypatch.setattr(dovecot_module, "dovecot_binary", lambda: None)
    expected = (pytest.skip.Exception, pytest.fail.Exception)
    with pytest.raises(expected) as outcome, dovecot_module.dovecot_server(tls_ca):
        pass
    assert INSTALL_HINT in str(outcome.value)


def test_a_port_taken_before_the_first_start_is_replaced(stopped_server: DovecotServer) -> None:
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind((stopped_server.host, stopped_server.imap_port))
        squatter.listen()
        taken = stopped_server.imap_port
        stopped_server.start()
    assert stopped_server.imap_port != taken
    stopped_server.add_user(USER, PASSWORD)
    with stopped_server.login(USER) as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_login_with_the_right_password_and_not_the_wrong_one(server: DovecotServer) -> None:
    with server.client("none") as client:
        client.login(USER, PASSWORD)
        assert client.list_folders()
        client.logout()

    with server.client("none") as client, pytest.raises(LoginError):
        client.login(USER, "wrong password")

    with server.client("none") as client, pytest.raises(LoginError):
        client.login("nobody@example.org", PASSWORD)


def test_starttls_on_the_plain_port_with_the_harness_ca(server: DovecotServer) -> None:
    with IMAPClient(server.host, server.imap_port, ssl=False, timeout=30) as client:
        assert b"STARTTLS" in client.capabilities()
        client.starttls(server.tls.client_context())
        assert client._imap.sock.version() in ("TLSv1.2", "TLSv1.3")
        client.login(USER, PASSWORD)
        client.select_folder("INBOX")
        client.logout()

    # A client that does not trust the harness CA must refuse the certificate.
    with IMAPClient(server.host, server.imap_port, ssl=False, timeout=30) as client:
        untrusting = ssl.create_default_context()  # system CAs only
        with pytest.raises(ssl.SSLCertVerificationError):
            client.starttls(untrusting)


def test_imaps_port(server: DovecotServer) -> None:
    with IMAPClient(
        server.host, server.imaps_port, ssl=True, ssl_context=server.tls.client_context(), timeout=30
    ) as client:
        assert client._imap.sock.version() in ("TLSv1.2", "TLSv1.3")
        client.login(USER, PASSWORD)
        assert client.select_folder("INBOX")[b"EXISTS"] == 0
        client.logout()

    # "localhost" is in the certificate too.
    context = server.tls.client_context()
    with (
        socket.create_connection((server.host, server.imaps_port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        assert tls.recv(100).startswith(b"* OK")


def test_append_then_fetch_body_peek_returns_the_exact_bytes_and_leaves_seen_unset(
    server: DovecotServer,
) -> None:
    raw = message(1)
    uid = server.append(USER, "INBOX", raw)
    flagged_uid = server.append(USER, "INBOX", message(2), flags=[r"\Flagged"])
    assert (uid, flagged_uid) == (1, 2)

    with server.login(USER, tls="starttls") as client:
        client.select_folder("INBOX", readonly=False)
        fetched = client.fetch([uid, flagged_uid], [BODY_PEEK, "FLAGS", "RFC822.SIZE"])
        assert fetched[uid][BODY] == raw
        assert fetched[uid][b"RFC822.SIZE"] == len(raw)
        assert stored_flags(fetched[uid][b"FLAGS"]) == ()
        assert fetched[flagged_uid][BODY] == message(2)
        assert stored_flags(fetched[flagged_uid][b"FLAGS"]) == (rb"\Flagged",)
        # BODY.PEEK[] did not set \Seen, on this connection or any other.
        assert stored_flags(client.get_flags([uid])[uid]) == ()
    with server.login(USER) as client:
        client.select_folder("INBOX", readonly=True)
        assert client.search(["UNSEEN"]) == [uid, flagged_uid]


def test_create_folder_and_append_to_it(server: DovecotServer) -> None:
    server.create_folder(USER, "Conduct/Processed")
    uid = server.append(USER, "Conduct/Processed", message(7))
    with server.login(USER) as client:
        names = [name for _flags, _sep, name in client.list_folders()]
        assert "Conduct/Processed" in names
        client.select_folder("Conduct/Processed")
        assert fetch_all(client)[uid][BODY] == message(7)
    assert (server.maildir(USER, "Conduct/Processed") / "cur").is_dir()


@pytest.mark.parametrize("graceful", [True, False], ids=["shutdown", "crash"])
def test_restart_keeps_the_messages_and_the_uidvalidity(server: DovecotServer, graceful: bool) -> None:
    uids = [server.append(USER, "INBOX", message(n)) for n in range(1, 4)]
    uidvalidity = server.uidvalidity(USER)

    # A client connected while the server restarts loses its connection ...
    client = server.client("none")
    client.login(USER, PASSWORD)
    client.select_folder("INBOX")
    server.restart(graceful=graceful)
    with pytest.raises((OSError, IMAPClient.AbortError, IMAPClient.Error)):
        client.noop()
    client.shutdown()

    # ... and a new connection finds everything as it was.
    assert server.uidvalidity(USER) == uidvalidity
    with server.login(USER) as client:
        client.select_folder("INBOX")
        fetched = fetch_all(client)
    assert sorted(fetched) == uids
    assert [fetched[uid][BODY] for uid in uids] == [message(n) for n in range(1, 4)]


def test_reset_uidvalidity_changes_it_and_keeps_the_messages(server: DovecotServer) -> None:
    server.create_folder(USER, "Conduct/Reports")
    server.append(USER, "Conduct/Reports", message(1))
    server.append(USER, "Conduct/Reports", message(2), flags=[r"\Flagged"])
    server.append(USER, "INBOX", message(3))
    before = server.uidvalidity(USER, "Conduct/Reports")
    inbox_before = server.uidvalidity(USER, "INBOX")

    after = server.reset_uidvalidity(USER, "Conduct/Reports")

    assert after != before
    assert server.uidvalidity(USER, "Conduct/Reports") == after
    assert server.uidvalidity(USER, "INBOX") == inbox_before  # only that folder changed
    with server.login(USER) as client:
        select = client.select_folder("Conduct/Reports")
        assert select[b"UIDVALIDITY"] == after
        fetched = fetch_all(client)
    by_body = {data[BODY]: stored_flags(data[b"FLAGS"]) for data in fetched.values()}
    assert by_body == {message(1): (), message(2): (rb"\Flagged",)}

    # Twice in quick succession still gives a new value each time (Dovecot keeps a counter).
    again = server.reset_uidvalidity(USER, "INBOX")
    assert again != inbox_before
    assert server.reset_uidvalidity(USER, "INBOX") != again


def test_idle_sees_a_message_appended_by_another_connection(server: DovecotServer) -> None:
    with server.login(USER) as watcher:
        assert b"IDLE" in watcher.capabilities()
        watcher.select_folder("INBOX")
        watcher.idle()
        try:
            server.append(USER, "INBOX", message(1))  # a second connection
            deadline = time.monotonic() + 15
            seen: list[tuple[object, ...]] = []
            while time.monotonic() < deadline and (1, b"EXISTS") not in seen:
                seen += watcher.idle_check(timeout=1)
        finally:
            watcher.idle_done()
    assert (1, b"EXISTS") in seen


def test_xoauth2_and_oauthbearer_with_a_static_token(server: DovecotServer) -> None:
    token = "ya29.test-token-" + "x" * 40
    server.add_oauth_token(USER, token)

    with server.client("starttls") as client:
        assert b"AUTH=XOAUTH2" in client.capabilities()
        client.oauth2_login(USER, token)
        client.select_folder("INBOX")
        client.logout()
    with server.client("imaps") as client:
        assert b"AUTH=OAUTHBEARER" in client.capabilities()
        client.oauthbearer_login(USER, token)
        client.logout()

    with server.client("starttls") as client, pytest.raises(LoginError):
        client.oauth2_login(USER, "not-the-token")
    # A token is not a password, and a password is not a token.
    with server.client("starttls") as client, pytest.raises(LoginError):
        client.login(USER, token)
    with server.client("starttls") as client, pytest.raises(LoginError):
        client.oauth2_login(USER, PASSWORD.replace(" ", "-"))


@pytest.mark.parametrize("how", ["multiappend", "append-loop"])
def test_a_backlog_of_1000_messages(
    server: DovecotServer, how: str, record_property, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [message(n, subject="Backlog") for n in range(1, 1001)]
    started = time.perf_counter()
    if how == "multiappend":
        uids = server.append_many(USER, "INBOX", messages)
    else:
        uids = []
        with server.login(USER) as client:
            for raw in messages:
                response = client.append("INBOX", raw)
                uids.append(int(response.split(b" ")[2].rstrip(b"]")))
    elapsed = time.perf_counter() - started

    record_property(f"append_1000_{how}_seconds", round(elapsed, 3))
    with capsys.disabled():
        print(f"\n[dovecot harness] {how}: 1000 messages appended in {elapsed:.2f}s")
    assert uids == list(range(1, 1001))
    with server.login(USER) as client:
        assert client.folder_status("INBOX", [b"MESSAGES", b"UNSEEN"]) == {
            b"MESSAGES": 1000,
            b"UNSEEN": 1000,
        }
        client.select_folder("INBOX", readonly=True)
        assert client.fetch([500], [BODY_PEEK])[500][BODY] == messages[499]


def test_stop_leaves_nothing_running_and_frees_the_ports(stopped_server: DovecotServer) -> None:
    stopped_server.start()
    assert stopped_server._process is not None
    pgid = stopped_server._process.pid  # the master leads its own process group
    assert stopped_server.running
    stopped_server.stop()
    assert not stopped_server.running
    assert live_processes_in_group(pgid) == []
    for port in (stopped_server.imap_port, stopped_server.imaps_port):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((stopped_server.host, port), timeout=5).close()
    stopped_server.stop()  # idempotent


def test_a_failed_start_reports_the_tail_of_the_log(stopped_server: DovecotServer) -> None:
    config = stopped_server.config_path
    config.write_text(config.read_text() + "\nthis_setting_does_not_exist = 1\n")
    with pytest.raises(DovecotError) as failure:
        stopped_server.start(timeout=10)
    text = str(failure.value)
    assert "this_setting_does_not_exist" in text
    assert "tail of Dovecot's log" in text
    assert not stopped_server.running
