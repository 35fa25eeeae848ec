"""The submission listener over real sockets: STARTTLS, AUTH against the roster, whose mail it takes,
and the multi-line 550 a held mail gets back (what the member's client shows).

The certificate for 127.0.0.1 comes from the session's test CA (``server_tls``); the client is smtplib.
"""

from __future__ import annotations

import base64
import smtplib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mailflow.auth import Roster, hash_password, verify_password
from mailflow.cli import committee as committee_cli
from mailflow.config import Settings, settings_from_mapping
from mailflow.errors import ConfigError
from mailflow.inbound.submission import (
    MAX_REPLY_LINE,
    SubmissionListener,
    SubmissionVerdict,
    Submitted,
    smtp_reply,
)
from tests.support.tls import ServerTls

ADA_PASSWORD = "analytical engine"
BOB_PASSWORD = "difference engine"
OUTSIDE = "witness@example.net"
ACCEPTED = SubmissionVerdict(True, "250 2.0.0 Accepted")


@pytest.fixture(scope="module")
def settings(server_tls: ServerTls) -> Settings:
    return settings_from_mapping(
        {
            "intake": {"hostname": "submission.test"},
            "submission": {
                "listen": "127.0.0.1:0",
                "tls_certificate": str(server_tls.certificate),
                "tls_key": str(server_tls.key),
            },
            "committee": {
                "members": [
                    {
                        "name": "Ada Lovelace",
                        "addresses": ["ada@example.org", "ada@home.example.net"],
                        "role": "chair",
                        "password_hash": hash_password(ADA_PASSWORD),
                    },
                    {
                        "name": "Bob Babbage",
                        "addresses": ["bob@example.org"],
                        "password_hash": hash_password(BOB_PASSWORD),
                    },
                    {"name": "Carol Herschel", "addresses": ["carol@example.org"]},
                ]
            },
        }
    )


@dataclass
class Recorder:
    """The handler the service would wire in: records what it got, answers ``verdict``."""

    verdict: SubmissionVerdict = ACCEPTED
    got: list[Submitted] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)
    fail: bool = False

    def __call__(self, submitted: Submitted) -> SubmissionVerdict:
        self.got.append(submitted)
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise RuntimeError("database down")
        return self.verdict


@pytest.fixture
def handler() -> Recorder:
    return Recorder()


@pytest.fixture
def listener(settings: Settings, handler: Recorder) -> Iterator[SubmissionListener]:
    with SubmissionListener(settings, Roster.from_settings(settings), handler) as running:
        yield running


def client(listener: SubmissionListener, server_tls: ServerTls, *, secure: bool = True) -> smtplib.SMTP:
    assert listener.port
    smtp = smtplib.SMTP("127.0.0.1", listener.port, local_hostname="client.test", timeout=10)
    smtp.ehlo()
    if secure:
        smtp.starttls(context=server_tls.client_context())
        smtp.ehlo()
    return smtp


def said(error: smtplib.SMTPResponseException) -> str:
    """The server's reply text as smtplib hands it over: the lines without their "550-", joined by LF."""
    text = error.smtp_error
    return text.decode() if isinstance(text, bytes) else text


def mail(sender: str = "Ada Lovelace <ada@example.org>", body: str = "Hello from my own mail client.\r\n") -> bytes:
    return (
        f"From: {sender}\r\nTo: Witness <{OUTSIDE}>\r\nCc: conduct@example.org\r\n"
        "Subject: [conduct #2026-0001] a question\r\nMessage-ID: <sub-1@example.org>\r\n\r\n" + body
    ).encode()


# -- TLS and AUTH -------------------------------------------------------------------------------


def test_auth_is_refused_before_starttls(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder
) -> None:
    with client(listener, server_tls, secure=False) as smtp:
        assert smtp.has_extn("starttls")
        assert not smtp.has_extn("auth")  # not even offered in clear
        plain = base64.b64encode(f"\0ada@example.org\0{ADA_PASSWORD}".encode()).decode()
        code, text = smtp.docmd("AUTH", f"PLAIN {plain}")
        assert (code, text) == (530, b"5.7.0 Must issue a STARTTLS command first")
        code, _ = smtp.docmd("MAIL", "FROM:<ada@example.org>")
        assert code == 530
    assert handler.got == []


def test_nothing_is_sent_without_a_login(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder
) -> None:
    with client(listener, server_tls) as smtp:
        assert "PLAIN" in smtp.esmtp_features["auth"] and "LOGIN" in smtp.esmtp_features["auth"]
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail("ada@example.org", [OUTSIDE], mail())
    assert (refused.value.smtp_code, said(refused.value)) == (530, "5.7.0 Authentication required")
    assert handler.got == []


@pytest.mark.parametrize(
    ("login", "password"),
    [
        ("ada@example.org", "analytical engine!"),
        ("ada@example.org", BOB_PASSWORD),
        ("nobody@example.org", ADA_PASSWORD),
        ("carol@example.org", ""),  # a member without a password_hash cannot log in
        ("carol@example.org", "anything"),
    ],
)
def test_wrong_credentials_are_refused(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder, login: str, password: str
) -> None:
    with client(listener, server_tls) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login(login, password)
        assert refused.value.smtp_code == 535
        with pytest.raises(smtplib.SMTPSenderRefused):
            smtp.sendmail(login, [OUTSIDE], mail())
    assert handler.got == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_right_password_sends_and_the_handler_gets_the_member(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder, mechanism: str
) -> None:
    raw = mail()
    with client(listener, server_tls) as smtp:
        smtp.user, smtp.password = "ADA@example.org", ADA_PASSWORD
        code, _ = smtp.auth(mechanism, getattr(smtp, f"auth_{mechanism.lower()}"))
        assert code == 235
        refused = smtp.sendmail("ada@example.org", [OUTSIDE, "conduct@example.org"], raw)
    assert refused == {}
    [got] = handler.got
    assert got.member.name == "Ada Lovelace" and got.member.role == "chair"
    assert (got.login, got.mail_from, got.rcpt_to) == (
        "ada@example.org",
        "ada@example.org",
        (OUTSIDE, "conduct@example.org"),
    )
    assert got.raw.replace(b"\r\n", b"\n") == raw.replace(b"\r\n", b"\n")
    assert handler.threads != ["submission"]  # the handler does not run on the event loop's thread


def test_any_of_the_members_addresses_may_be_used(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder
) -> None:
    with client(listener, server_tls) as smtp:
        smtp.login("ada@home.example.net", ADA_PASSWORD)
        smtp.sendmail("ada@home.example.net", [OUTSIDE], mail("Ada <ada@example.org>"))
    assert [g.member.name for g in handler.got] == ["Ada Lovelace"]


# -- whose mail -------------------------------------------------------------------------------


def test_envelope_sender_of_another_member_is_refused(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder
) -> None:
    with client(listener, server_tls) as smtp:
        smtp.login("ada@example.org", ADA_PASSWORD)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail("bob@example.org", [OUTSIDE], mail("Bob <bob@example.org>"))
    assert refused.value.smtp_code == 550
    assert said(refused.value).startswith("5.7.1 The envelope sender <bob@example.org> is not one of your")
    assert handler.got == []


@pytest.mark.parametrize(
    "sender",
    [
        "Bob Babbage <bob@example.org>",
        "Ada Lovelace <ada@evil.example>",
        "Ada <ada@example.org>, Bob <bob@example.org>",
    ],
)
def test_from_header_of_someone_else_is_refused(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder, sender: str
) -> None:
    with client(listener, server_tls) as smtp:
        smtp.login("ada@example.org", ADA_PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("ada@example.org", [OUTSIDE], mail(sender))
        # the session goes on: a correct mail is still taken
        smtp.sendmail("ada@example.org", [OUTSIDE], mail())
    assert refused.value.smtp_code == 550
    assert said(refused.value).startswith("5.7.1 The From header")
    assert len(handler.got) == 1


# -- the handler's verdict --------------------------------------------------------------------

HELD = (
    "550 5.7.1 Held by the reporter-protection rule: the reporter's identity would reach an outside party.\n"
    'The offending text, in the quoted history: "Jane Reporter wrote:"\n'
    "\n"
    "To fix it, remove the quoted history or ask the reporter for written permission, "
    "record it with [permission ...], and send again. " + "Details: " + "x" * 600 + "\n"
    "Nothing was sent."
)


def test_a_multi_line_550_reaches_the_client_whole(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder
) -> None:
    handler.verdict = SubmissionVerdict(False, HELD)
    with client(listener, server_tls) as smtp:
        smtp.login("ada@example.org", ADA_PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as held:
            smtp.sendmail("ada@example.org", [OUTSIDE], mail())
        smtp.noop()  # the reply was read to its end: the session is in step
    assert held.value.smtp_code == 550
    lines = said(held.value).split("\n")
    # The 550 transcript as the member's client shows it:
    assert lines[0] == (
        "5.7.1 Held by the reporter-protection rule: the reporter's identity would reach an outside party."
    )
    assert lines[1] == '5.7.1 The offending text, in the quoted history: "Jane Reporter wrote:"'
    assert lines[2] == "5.7.1"
    assert lines[-1] == "5.7.1 Nothing was sent."
    assert all(line.startswith("5.7.1") for line in lines)
    assert all(len(line) + len("550-\r\n") <= 512 for line in lines)
    assert "x" * 600 in "".join(line.removeprefix("5.7.1 ") for line in lines[3:-1])
    assert len(handler.got) == 1


def test_a_failing_handler_is_a_temporary_failure(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder
) -> None:
    handler.fail = True
    with client(listener, server_tls) as smtp:
        smtp.login("ada@example.org", ADA_PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as deferred:
            smtp.sendmail("ada@example.org", [OUTSIDE], mail())
    assert deferred.value.smtp_code == 451


def test_a_reply_that_contradicts_the_verdict_is_not_sent(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder
) -> None:
    handler.verdict = SubmissionVerdict(True, "550 5.7.1 oops")
    with client(listener, server_tls) as smtp:
        smtp.login("ada@example.org", ADA_PASSWORD)
        assert smtp.sendmail("ada@example.org", [OUTSIDE], mail()) == {}


def test_non_ascii_explanations_are_folded_for_clients_without_smtputf8(
    listener: SubmissionListener, server_tls: ServerTls, handler: Recorder
) -> None:
    handler.verdict = SubmissionVerdict(False, "550 5.7.1 Held: the name “Zoë Ångström” would reach a witness")
    with client(listener, server_tls) as smtp:
        smtp.login("ada@example.org", ADA_PASSWORD)
        with pytest.raises(smtplib.SMTPDataError) as held:
            smtp.sendmail("ada@example.org", [OUTSIDE], mail())
    assert said(held.value) == "5.7.1 Held: the name ?Zoe Angstrom? would reach a witness"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("250 2.0.0 Accepted", "250 2.0.0 Accepted"),
        ("550 5.7.1 one\ntwo", "550-5.7.1 one\r\n550 5.7.1 two"),
        ("550-5.7.1 one\r\n550 5.7.1 two\r\n", "550-5.7.1 one\r\n550 5.7.1 two"),
        ("550 5.7.1 one\r\n5.7.1 two", "550-5.7.1 one\r\n550 5.7.1 two"),
        ("550 no status\nsecond", "550-no status\r\n550 second"),
        ("451 4.3.0 try\tlater\x00", "451 4.3.0 try later"),
        ("Held, no code", None),
        ("", None),
    ],
)
def test_smtp_reply_formatting(given: str, expected: str | None) -> None:
    assert smtp_reply(given) == expected


def test_smtp_reply_lines_stay_under_512_octets() -> None:
    reply = smtp_reply("550 5.7.1 " + "é" * 2000 + " " + "word " * 300)
    assert reply is not None
    lines = reply.split("\r\n")
    assert len(lines) > 4
    assert all(len(line.encode()) <= MAX_REPLY_LINE for line in lines)
    assert all(line.startswith("550-5.7.1 ") for line in lines[:-1]) and lines[-1].startswith("550 5.7.1 ")


# -- configuration, passwords, the CLI ----------------------------------------------------------


def test_the_listener_needs_its_certificate(settings: Settings, tmp_path: Path) -> None:
    roster = Roster.from_settings(settings)
    missing = settings.model_copy(
        update={"submission": settings.submission.model_copy(update={"tls_certificate": tmp_path / "nope.pem"})}
    )
    with pytest.raises(ConfigError, match="cannot load tls_certificate"):
        SubmissionListener(missing, roster, Recorder())
    with pytest.raises(ConfigError, match="set listen"):
        SubmissionListener(settings_from_mapping({}), roster, Recorder())


def test_password_hash_round_trip() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("scrypt$16384$8$1$") and len(hashed.split("$")) == 6
    assert verify_password("correct horse battery staple", hashed)
    assert not verify_password("correct horse battery stapler", hashed)
    assert not verify_password("", hashed)
    assert hash_password("correct horse battery staple") != hashed  # a fresh salt every time
    assert verify_password("pässwörd ✓", hash_password("pässwörd ✓"))


@pytest.mark.parametrize(
    "hashed",
    [
        "",
        "plaintext",
        "scrypt$16384$8$1$c2FsdA==",
        "bcrypt$16384$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "scrypt$16383$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "scrypt$1073741824$8$1$c2FsdHNhbHRzYWx0c2FsdA==$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "scrypt$16384$8$1$!!!$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g=",
        "scrypt$16384$8$1$c2FsdA==$c2hvcnQ=",
    ],
)
def test_malformed_hashes_never_verify(hashed: str) -> None:
    assert verify_password("salt", hashed) is False


def test_cli_hash_password_from_stdin() -> None:
    result = CliRunner().invoke(committee_cli.app, ["hash-password"], input="s3cret pass\n")
    assert result.exit_code == 0, result.output
    assert verify_password("s3cret pass", result.output.strip())
    empty = CliRunner().invoke(committee_cli.app, ["hash-password"], input="\n")
    assert empty.exit_code == 1


def test_cli_hash_password_from_the_terminal_asks_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["s3cret", "s3cret", "s3cret", "typo"])
    monkeypatch.setattr(committee_cli, "_stdin_is_terminal", lambda: True)
    monkeypatch.setattr(committee_cli, "getpass", lambda prompt: next(answers))
    same = CliRunner().invoke(committee_cli.app, ["hash-password"])
    assert same.exit_code == 0 and verify_password("s3cret", same.output.strip())
    differ = CliRunner().invoke(committee_cli.app, ["hash-password"])
    assert differ.exit_code == 1 and "differ" in differ.output


def test_stop_closes_connections_still_open(settings: Settings, server_tls: ServerTls, handler: Recorder) -> None:
    listener = SubmissionListener(settings, Roster.from_settings(settings), handler).start()
    smtp = client(listener, server_tls)
    try:
        smtp.login("ada@example.org", ADA_PASSWORD)
        listener.stop()
        with pytest.raises(smtplib.SMTPServerDisconnected):
            smtp.noop()
    finally:
        smtp.close()
        listener.stop()  # a second stop is harmless
