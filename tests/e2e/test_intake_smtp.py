"""A report sent by SMTP becomes a case and is acknowledged: the service on a real loopback port,
on every database and broker combination (tests/conftest.py)."""

from __future__ import annotations

import hashlib
import smtplib
import socket

from sqlalchemy import select

from mailflow.model import (
    Blob,
    DiaryEntry,
    DiaryKind,
    InboundMessage,
    InboundState,
    OutboundKind,
    OutboundState,
)
from tests.support import trace
from tests.support.mail import header, parse, report
from tests.support.stack import CONDUCT, Stack, send
from tests.support.trace import smtp_trace


def test_report_opens_a_case_and_the_reporter_is_acknowledged(stack: Stack) -> None:
    # Given a running service
    service = stack.start()
    raw = report(message_id="first-report@example.net")

    # When a reporter writes to the conduct address
    send(service.smtp_port, raw)
    stack.wait_idle()

    # Then one case is open, with the report in its diary
    [case] = stack.cases()
    assert case.ref.endswith("-0001")
    with stack.session() as s:
        kinds = [
            e.kind for e in s.scalars(select(DiaryEntry).where(DiaryEntry.case_id == case.id).order_by(DiaryEntry.seq))
        ]
    assert kinds == [DiaryKind.REPORT, DiaryKind.SENT, DiaryKind.SENT]  # the acknowledgement, the committee copy

    # And exactly one acknowledgement left, threaded to the report, from the conduct address
    ack, copy = stack.outbound()
    assert (ack.kind, ack.state, ack.recipients) == (
        OutboundKind.ACKNOWLEDGEMENT,
        OutboundState.SENT,
        ["jane@example.net"],
    )
    assert (copy.kind, copy.state) == (OutboundKind.FANOUT, OutboundState.SENT)
    [mail] = [m for m in stack.delivered() if "jane@example.net" in header(m, "To")]
    assert header(mail, "In-Reply-To") == "<first-report@example.net>"
    assert "<first-report@example.net>" in header(mail, "References")
    assert header(mail, "Auto-Submitted") == "auto-replied"
    assert header(mail, "Message-ID") == f"<{ack.message_id}>"
    assert parse(mail)["From"].addresses[0].addr_spec == CONDUCT
    reply_to = parse(mail)["Reply-To"].addresses[0].addr_spec
    assert reply_to.startswith(f"conduct+{case.ref}.") and reply_to.endswith("@example.org")
    assert f"[conduct #{case.ref}]" in header(mail, "Subject")
    body = parse(mail).get_body(("plain",)).get_content()
    assert case.ref in body and "24 hours" in body and "7 days" in body and reply_to in body


def test_the_raw_bytes_are_committed_before_the_250(stack: Stack) -> None:
    service = stack.start(worker=False)  # nothing processes: only the spool is at work
    raw = report(body="Line one.\nLine two with trailing spaces   \n\n.leading dot survives\n")
    with smtplib.SMTP("127.0.0.1", service.smtp_port) as client:
        client.ehlo("client.example")
        client.mail("jane@example.net")
        client.rcpt(CONDUCT)
        code, text = client.data(raw)
    assert code == 250 and text.startswith(b"2.0.0 Ok: stored as message ")
    inbound_id = int(text.rsplit(b" ", 1)[1])
    # The moment the client has its 250, the bytes are in the database, exactly: our Received
    # field on top of what the client sent.
    with stack.session() as s:
        inbound = s.get(InboundMessage, inbound_id)
        assert inbound is not None and inbound.state is InboundState.RECEIVED
        stored = s.get(Blob, inbound.blob_id).data  # type: ignore[union-attr]
        assert smtp_trace("client.example").fullmatch(trace.split(stored, raw))
        assert inbound.mail_from == "jane@example.net" and inbound.rcpt_to == [CONDUCT]
        assert inbound.origin == {"peer": "127.0.0.1", "helo": "client.example"}
        assert inbound.sha256 == hashlib.sha256(raw).hexdigest() and inbound.size == len(raw)


def _transcript(port: int, *commands: str) -> list[str]:
    """Raw SMTP dialogue: each command's reply line(s), exactly as the server sent them."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        stream = sock.makefile("rwb")
        replies = [_read_reply(stream)]
        for command in commands:
            stream.write(command.encode() + b"\r\n")
            stream.flush()
            replies.append(_read_reply(stream))
    return replies


def _read_reply(stream: socket.SocketIO) -> str:
    lines = []
    while True:
        line = stream.readline().decode().rstrip("\r\n")
        lines.append(line)
        if len(line) < 4 or line[3] != "-":
            return "\n".join(lines)


def test_only_the_conduct_address_and_its_plus_addresses_are_accepted(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start()
    replies = _transcript(
        service.smtp_port,
        "EHLO client.example",
        "MAIL FROM:<jane@example.net>",
        "RCPT TO:<someone-else@example.org>",
        "RCPT TO:<conduct@other.example>",
        "RCPT TO:<Conduct@Example.ORG>",
        "RCPT TO:<conduct+anything@example.org>",
        "QUIT",
    )
    assert replies[3] == "550 5.1.1 No such recipient here: this service accepts mail for its conduct address only"
    assert replies[4].startswith("550 5.1.1 ")
    assert replies[5] == "250 2.1.5 Recipient ok"
    assert replies[6] == "250 2.1.5 Recipient ok"


def test_oversized_mail_is_refused_with_552_5_3_4(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start(sqlite_stack.settings(intake={"max_message_size": 2000}))
    with smtplib.SMTP("127.0.0.1", service.smtp_port) as client:
        # A client that announces the size is refused at MAIL FROM ...
        client.ehlo()
        code, text = client.mail("jane@example.net", ["SIZE=99999"])
        assert (code, text[:6]) == (552, b"5.3.4 ")
        client.rset()
        # ... and one that does not, after DATA.
        client.mail("jane@example.net")
        client.rcpt(CONDUCT)
        code, text = client.data(report(body="x" * 5000))
        assert (code, text[:6]) == (552, b"5.3.4 ")
    assert sqlite_stack.count(InboundMessage) == 0


def test_lmtp_answers_once_per_recipient(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start()
    raw = report(to="conduct@example.org, conduct+press@example.org")
    with socket.create_connection(("127.0.0.1", service.lmtp_port), timeout=10) as sock:
        stream = sock.makefile("rwb")
        _read_reply(stream)
        for line in (b"LHLO mta.example", b"MAIL FROM:<jane@example.net>", b"RCPT TO:<conduct@example.org>"):
            stream.write(line + b"\r\n")
            stream.flush()
            _read_reply(stream)
        stream.write(b"RCPT TO:<conduct+press@example.org>\r\nDATA\r\n")
        stream.flush()
        assert _read_reply(stream) == "250 2.1.5 Recipient ok"
        assert _read_reply(stream).startswith("354")
        stream.write(raw + b".\r\n")
        stream.flush()
        # RFC 2033 §4.2: one reply per accepted recipient, in RCPT order.
        first, second = _read_reply(stream), _read_reply(stream)
    assert first.startswith("250 2.0.0 Ok: stored as message ") and second == first
    sqlite_stack.wait_idle()
    assert len(sqlite_stack.cases()) == 1


def test_a_bare_lf_dot_does_not_end_the_data_smtp_smuggling(sqlite_stack: Stack) -> None:
    # CVE-2023-51764 class: "\n.\n" inside DATA must not be read as the end of the message.
    service = sqlite_stack.start()
    smuggled = (
        report().rstrip(b"\r\n")
        + b"\r\n\n.\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<conduct@example.org>\r\nDATA\r\nFrom: forged\r\n"
    )
    with socket.create_connection(("127.0.0.1", service.smtp_port), timeout=10) as sock:
        stream = sock.makefile("rwb")
        _read_reply(stream)
        for line in (b"EHLO x", b"MAIL FROM:<jane@example.net>", b"RCPT TO:<conduct@example.org>", b"DATA"):
            stream.write(line + b"\r\n")
            stream.flush()
            _read_reply(stream)
        stream.write(smuggled + b"\r\n.\r\n")
        stream.flush()
        assert _read_reply(stream).startswith("250 2.0.0")
    sqlite_stack.wait_idle()
    assert sqlite_stack.count(InboundMessage) == 1  # one message, with the would-be second one inside it
    with sqlite_stack.session() as s:
        [inbound] = s.scalars(select(InboundMessage))
        assert b"MAIL FROM:<evil@example.com>" in s.get(Blob, inbound.blob_id).data  # type: ignore[union-attr]
