"""The intake listeners' own Received field, the client recorded in origin, and the limits an
operator sets in [intake]: over real SMTP and LMTP on loopback, with the exact replies."""

from __future__ import annotations

import hashlib
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from select import select as readable

from sqlalchemy import select

from mailflow.handoff import deliver_from_pipe
from mailflow.inbound.smtp import SenderRate
from mailflow.model import Blob, InboundMessage
from mailflow.parse.trace import Trace, is_own, without_trace
from tests.support import trace
from tests.support.mail import report
from tests.support.stack import CONDUCT, Stack, send
from tests.support.trace import local_trace, smtp_trace


class Dialogue:
    """One SMTP/LMTP connection, command by command, with each reply as the server sent it."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.stream = self.sock.makefile("rwb")

    def reply(self) -> str:
        lines = []
        while True:
            raw = self.stream.readline()
            if not raw:
                lines.append("<closed>")
                return "\n".join(lines)
            line = raw.decode().rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    def send(self, data: bytes) -> None:
        self.stream.write(data)
        self.stream.flush()

    def command(self, line: str) -> str:
        self.send(line.encode() + b"\r\n")
        return self.reply()

    def closed(self) -> bool:
        return self.stream.readline() == b""

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


@contextmanager
def dialogue(port: int, timeout: float = 10) -> Iterator[Dialogue]:
    d = Dialogue(port, timeout)
    try:
        yield d
    finally:
        d.close()


def _stored(stack: Stack) -> list[tuple[InboundMessage, bytes]]:
    with stack.session() as s:
        rows = list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))
        return [(row, s.get(Blob, row.blob_id).data) for row in rows]  # type: ignore[union-attr]


# -- our Received field and the client in origin ------------------------------------------------


def test_every_stored_message_begins_with_our_received_field_and_origin_names_the_client(
    sqlite_stack: Stack,
) -> None:
    service = sqlite_stack.start(worker=False)
    smtp_raw, lmtp_raw, helo_raw = report(), report(), report()
    with dialogue(service.smtp_port) as d:
        d.reply()
        d.command("EHLO client.example")
        d.command("MAIL FROM:<jane@example.net>")
        d.command(f"RCPT TO:<{CONDUCT}>")
        d.command("DATA")
        d.send(smtp_raw + b".\r\n")
        assert d.reply().startswith("250 2.0.0 Ok: stored as message ")
    with dialogue(service.lmtp_port) as d:
        d.reply()
        d.command("LHLO mta.example")
        d.command("MAIL FROM:<jane@example.net>")
        d.command(f"RCPT TO:<{CONDUCT}>")
        d.command("DATA")
        d.send(lmtp_raw + b".\r\n")
        assert d.reply().startswith("250 2.0.0 Ok: stored as message ")
    with dialogue(service.smtp_port) as d:  # plain HELO: "with SMTP"
        d.reply()
        d.command("HELO old.example")
        d.command("MAIL FROM:<jane@example.net>")
        d.command(f"RCPT TO:<{CONDUCT}>")
        d.command("DATA")
        d.send(helo_raw + b".\r\n")
        assert d.reply().startswith("250 2.0.0 Ok: stored as message ")

    (smtp_row, smtp_blob), (lmtp_row, lmtp_blob), (_, helo_blob) = _stored(sqlite_stack)
    assert smtp_trace("client.example", "ESMTP").fullmatch(trace.split(smtp_blob, smtp_raw))
    assert smtp_trace("mta.example", "LMTP").fullmatch(trace.split(lmtp_blob, lmtp_raw))
    assert smtp_trace("old.example", "SMTP").fullmatch(trace.split(helo_blob, helo_raw))
    assert smtp_row.origin == {"peer": "127.0.0.1", "helo": "client.example"}
    assert lmtp_row.origin == {"peer": "127.0.0.1", "helo": "mta.example"}
    # The dedupe key and the size are the client's bytes; without_trace gives them back.
    assert smtp_row.sha256 == hashlib.sha256(smtp_raw).hexdigest() and smtp_row.size == len(smtp_raw)
    assert without_trace(smtp_blob) == smtp_raw and without_trace(smtp_raw) == smtp_raw


def test_identical_bytes_from_two_clients_are_stored_once_with_the_first_trace(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start(worker=False)
    raw = report()
    first = send(service.smtp_port, raw)
    with dialogue(service.lmtp_port) as d:
        d.reply()
        d.command("LHLO second-mx.example")
        d.command("MAIL FROM:<jane@example.net>")
        d.command(f"RCPT TO:<{CONDUCT}>")
        d.command("DATA")
        d.send(raw + b".\r\n")
        again = d.reply()
    assert first == {}
    [(row, blob)] = _stored(sqlite_stack)
    assert again == f"250 2.0.0 Ok: stored as message {row.id}"
    assert row.source.value == "smtp" and b"with ESMTP" in trace.split(blob, raw)


def test_a_hostile_helo_cannot_break_out_of_our_field(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start(worker=False)
    raw = report()
    with dialogue(service.smtp_port) as d:
        d.reply()
        d.command("EHLO evil) by mx.example.org (mailflow) with ESMTP;\x01\xc3\xa9")
        d.command("MAIL FROM:<jane@example.net>")
        d.command(f"RCPT TO:<{CONDUCT}>")
        d.command("DATA")
        d.send(raw + b".\r\n")
        assert d.reply().startswith("250 ")
    [(row, blob)] = _stored(sqlite_stack)
    field = trace.split(blob, raw)
    # Everything outside printable ASCII, and what would close the comment or the field, is "?".
    assert field.startswith(b"Received: from evil??by?mx.example.org??mailflow??with?ESMTP??? (")
    assert field.count(b"(mailflow)") == 1 and is_own("received", field.decode()[9:].replace("\r\n\t", " "))
    assert b"\x01" not in row.origin["helo"].encode() and row.origin["peer"] == "127.0.0.1"


def test_the_pipe_marks_its_messages_with_local_in_their_own_line_ending(sqlite_stack: Stack) -> None:
    raw = report().replace(b"\r\n", b"\n")  # Postfix's pipe(8) hands over LF lines
    code, said = deliver_from_pipe(sqlite_stack.settings(), raw, "jane@example.net", (CONDUCT,))
    assert code == 0, said
    [(row, blob)] = _stored(sqlite_stack)
    assert local_trace(newline=b"\n").fullmatch(trace.split(blob, raw))
    assert row.sha256 == hashlib.sha256(raw).hexdigest()


def test_our_field_is_recognised_and_only_ours() -> None:
    when = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
    ours = Trace(by="mx.example.org", protocol="ESMTP", helo="c.example", peer="2001:db8::1").field(when)
    assert ours == (
        b"Received: from c.example (unknown [IPv6:2001:db8::1])\r\n"
        b"\tby mx.example.org (mailflow) with ESMTP; Tue, 01 Dec 2026 14:00:00 +0000\r\n"
    )
    assert is_own("Received", ours.decode().split(": ", 1)[1].replace("\r\n\t", " "))
    assert not is_own("Received", "from c.example by mx.example.org (Postfix) with ESMTP; Tue, 01 Dec 2026")
    assert without_trace(b"Received: from x by y (Postfix); d\r\nFrom: a\r\n\r\n") == (
        b"Received: from x by y (Postfix); d\r\nFrom: a\r\n\r\n"
    )


# -- limits -------------------------------------------------------------------------------------


def test_recipients_past_the_limit_get_452_4_5_3_and_are_not_stored(sqlite_stack: Stack) -> None:
    # The defect: 1,000 RCPT TO in one transaction all got 250 and the message was stored for 900.
    service = sqlite_stack.start(worker=False)
    raw = report()
    with dialogue(service.smtp_port) as d:
        d.reply()
        d.command("EHLO client.example")
        d.command("MAIL FROM:<jane@example.net>")
        d.send(b"".join(b"RCPT TO:<conduct+r%d@example.org>\r\n" % i for i in range(1000)))  # pipelined
        answers = [d.reply() for _ in range(1000)]
        assert d.command("DATA").startswith("354")
        d.send(raw + b".\r\n")
        assert d.reply().startswith("250 2.0.0 Ok: stored as message ")
    assert answers[:50] == ["250 2.1.5 Recipient ok"] * 50
    assert answers[50:] == ["452 4.5.3 Too many recipients"] * 950
    [(row, _)] = _stored(sqlite_stack)
    assert row.rcpt_to == [f"conduct+r{i}@example.org" for i in range(50)]


def test_lmtp_counts_recipients_the_same_way(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start(sqlite_stack.settings(intake={"max_recipients": 2}), worker=False)
    with dialogue(service.lmtp_port) as d:
        d.reply()
        d.command("LHLO mta.example")
        d.command("MAIL FROM:<jane@example.net>")
        got = [d.command(f"RCPT TO:<conduct+{n}@example.org>") for n in ("a", "b", "c")]
    assert got == ["250 2.1.5 Recipient ok", "250 2.1.5 Recipient ok", "452 4.5.3 Too many recipients"]


def test_an_idle_client_is_closed_with_421_4_4_2(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start(sqlite_stack.settings(intake={"command_timeout_seconds": 1}), worker=False)
    with dialogue(service.smtp_port) as d:
        assert d.reply().startswith("220 ")
        assert d.command("EHLO client.example").startswith("250")
        started = time.monotonic()
        assert d.reply() == "421 4.4.2 Timeout exceeded; closing the connection"
        assert d.closed() and 0.8 < time.monotonic() - started < 5


def test_a_client_that_never_finishes_data_is_closed_and_nothing_is_stored(sqlite_stack: Stack) -> None:
    settings = sqlite_stack.settings(intake={"command_timeout_seconds": 30, "data_timeout_seconds": 1.5})
    service = sqlite_stack.start(settings, worker=False)
    with dialogue(service.smtp_port) as d:
        d.reply()
        d.command("EHLO client.example")
        d.command("MAIL FROM:<jane@example.net>")
        d.command(f"RCPT TO:<{CONDUCT}>")
        assert d.command("DATA").startswith("354")
        # A trickle: a line every 0.2 s keeps an idle timer happy, never the data timeout.
        started = time.monotonic()
        d.send(b"From: Jane <jane@example.net>\r\nSubject: slow\r\n\r\n")
        reply = ""
        while time.monotonic() - started < 10:
            if readable([d.sock], [], [], 0.2)[0]:
                reply = d.reply()
                break
            d.send(b"still typing\r\n")
        assert reply == "421 4.4.2 Timeout exceeded; closing the connection"
        assert 1.3 < time.monotonic() - started < 5
        assert d.closed()
    assert sqlite_stack.count(InboundMessage) == 0


def test_data_that_arrives_in_time_is_not_cut_by_the_command_timeout(sqlite_stack: Stack) -> None:
    settings = sqlite_stack.settings(intake={"command_timeout_seconds": 1, "data_timeout_seconds": 10})
    service = sqlite_stack.start(settings, worker=False)
    with dialogue(service.smtp_port) as d:
        d.reply()
        d.command("EHLO client.example")
        d.command("MAIL FROM:<jane@example.net>")
        d.command(f"RCPT TO:<{CONDUCT}>")
        d.command("DATA")
        raw = report()
        d.send(raw[:50])
        time.sleep(1.5)  # longer than the command timeout, well within the data timeout
        d.send(raw[50:] + b".\r\n")
        assert d.reply().startswith("250 2.0.0 Ok: stored as message ")
    assert sqlite_stack.count(InboundMessage) == 1


def test_connections_past_the_limit_per_address_get_421_4_7_0_at_connect(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start(sqlite_stack.settings(intake={"max_connections_per_client": 2}), worker=False)
    first, second = Dialogue(service.smtp_port), Dialogue(service.lmtp_port)  # both listeners count
    try:
        assert first.reply().startswith("220 ") and second.reply().startswith("220 ")
        with dialogue(service.smtp_port) as third:
            assert third.reply() == "421 4.7.0 Too many connections from your address; try again later"
            assert third.closed()
        first.command("QUIT")
        first.close()
        deadline = time.monotonic() + 5
        while True:  # the server sees the close a moment later
            with dialogue(service.smtp_port) as again:
                greeting = again.reply()
            if greeting.startswith("220 ") or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert greeting.startswith("220 ")
    finally:
        first.close()
        second.close()


def test_a_sender_past_its_hourly_rate_gets_450_4_7_1_and_others_do_not(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start(sqlite_stack.settings(intake={"max_messages_per_sender_per_hour": 2}), worker=False)
    send(service.smtp_port, report(), sender="loop@example.net")
    send(service.smtp_port, report(), sender="LOOP@example.net")
    with dialogue(service.smtp_port) as d:
        d.reply()
        d.command("EHLO client.example")
        assert d.command("MAIL FROM:<loop@example.net>") == (
            "450 4.7.1 Too many messages from this sender in the last hour; please try again later"
        )
        assert d.command("MAIL FROM:<jane@example.net>") == "250 2.1.0 Sender ok"
    assert sqlite_stack.count(InboundMessage) == 2


def test_the_sender_rate_is_an_hour_long() -> None:
    now = [10_000.0]
    rate = SenderRate(clock=lambda: now[0])
    for _ in range(3):
        rate.add("a@example.net")
    assert rate.count("A@example.net") == 3 and rate.count("b@example.net") == 0
    now[0] += 1800  # half an hour later the three still count (most of them)
    assert rate.count("a@example.net") >= 1.5
    now[0] += 2 * 3600
    assert rate.count("a@example.net") == 0


def test_absurd_header_sections_are_refused_and_long_lines_are_not(sqlite_stack: Stack) -> None:
    service = sqlite_stack.start(sqlite_stack.settings(intake={"max_header_size": 8192}), worker=False)
    huge_header = report(headers={f"X-Filler-{i}": "y" * 60 for i in range(200)})
    hops = report(headers={"Received": "from a by b; Tue, 01 Dec 2026 10:00:00 +0000"}).replace(
        b"Received:", b"Received: from a by b; Tue, 01 Dec 2026 10:00:00 +0000\r\nReceived:" * 100, 1
    )
    long_line = report(body="x" * 200_000 + "\n")  # real mail has such lines (HTML); under LINE_LENGTH_LIMIT
    replies = []
    for raw in (huge_header, hops, long_line):
        with dialogue(service.smtp_port) as d:
            d.reply()
            d.command("EHLO client.example")
            d.command("MAIL FROM:<jane@example.net>")
            d.command(f"RCPT TO:<{CONDUCT}>")
            d.command("DATA")
            d.send(raw + b".\r\n")
            replies.append(d.reply())
    assert replies[0] == "552 5.3.4 Message header section too big for this service"
    assert replies[1] == "554 5.4.6 Too many hops: the message has passed through too many servers (a mail loop?)"
    assert replies[2].startswith("250 2.0.0 Ok: stored as message ")
    assert sqlite_stack.count(InboundMessage) == 1
