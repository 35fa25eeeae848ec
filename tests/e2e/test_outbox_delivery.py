"""Outgoing mail through a real SMTP smarthost on loopback: retried with backoff while it is down,
sent once when it is back, never a second different mail after a crash."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from mailflow.database import connection
from mailflow.model import Alert, AlertKind, DiaryEntry, DiaryKind, OutboundState
from mailflow.outbound import outbox
from mailflow.outbound.transport import MaildirTransport, SmtpTransport
from tests.support.intake import Intake
from tests.support.mail import header, report
from tests.support.sink import Sink, free_port
from tests.support.stack import Stack, send


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.stop()


# These tests follow one acknowledgement through the outbox: no committee, so no committee copies.
NO_COMMITTEE: dict[str, object] = {"committee": {"members": []}}


def _smarthost(port: int) -> dict[str, object]:
    return {
        "outgoing": {"transport": f"smtp://127.0.0.1:{port}", "starttls": False, "retry_base_seconds": 0.2},
        **NO_COMMITTEE,
    }


def test_a_smarthost_that_is_down_is_retried_and_the_mail_sent_once_it_is_up(stack: Stack, sink: Sink) -> None:
    service = stack.start(stack.settings(**_smarthost(sink.port)))
    send(service.smtp_port, report(message_id="while-down@example.net"))

    def retrying() -> bool:
        acks = stack.outbound()
        return len(acks) == 1 and acks[0].state is OutboundState.RETRY and acks[0].attempts >= 2

    stack.wait_until(retrying, what="two failed attempts")
    [ack] = stack.outbound()
    assert "unreachable" in (ack.last_error or "")

    sink.start()
    stack.wait_until(lambda: stack.outbound_states() == [OutboundState.SENT], what="delivery")
    [delivered] = sink.received
    assert header(delivered.data, "Message-ID") == f"<{ack.message_id}>"
    assert delivered.rcpt_tos == ["jane@example.net"]
    assert delivered.mail_from.startswith("conduct+")  # bounces come back to the case


def test_a_temporary_refusal_is_retried(sqlite_stack: Stack, sink: Sink) -> None:
    sink.handler.fail_next = 2
    sink.start()
    service = sqlite_stack.start(sqlite_stack.settings(**_smarthost(sink.port)))
    send(service.smtp_port, report())
    sqlite_stack.wait_until(lambda: sqlite_stack.outbound_states() == [OutboundState.SENT], what="delivery")
    assert sqlite_stack.outbound()[0].attempts == 3
    assert len(sink.received) == 1


def test_a_permanent_refusal_fails_the_mail_and_says_so_in_the_diary(sqlite_stack: Stack, sink: Sink) -> None:
    sink.handler.fail_next, sink.handler.fail_reply = 1, "554 5.7.1 relay denied"
    sink.start()
    service = sqlite_stack.start(sqlite_stack.settings(**_smarthost(sink.port)))
    send(service.smtp_port, report())
    sqlite_stack.wait_until(lambda: sqlite_stack.outbound_states() == [OutboundState.FAILED], what="failure")
    [ack] = sqlite_stack.outbound()
    assert ack.attempts == 1 and "554" in (ack.last_error or "")
    with sqlite_stack.session() as s:
        [entry] = s.scalars(select(DiaryEntry).where(DiaryEntry.kind == DiaryKind.DELIVERY_FAILED))
        assert entry.outbound_id == ack.id
        # and the chairs will hear of it (an alert for their digest), with no address in it
        [alert] = s.scalars(select(Alert).where(Alert.kind == AlertKind.DELIVERY_FAILED))
        assert alert.outbound_id == ack.id and "554" in alert.summary and "@" not in alert.summary


def _crash_after_handover(intake: Intake, transport: object, outbound_id: int) -> None:
    """Claim and hand over, then 'crash' before the outcome is committed."""
    services = intake.runtime.services
    with connection(services.engine, durable=True) as conn:
        claimed = outbox.claim(conn, outbound_id, services.clock())
        assert claimed is not None
    refused = transport.send(claimed.mail_from, claimed.recipients, claimed.raw, claimed.message_id)  # type: ignore[attr-defined]
    assert refused == []


def test_a_crash_between_send_and_commit_resends_the_same_mail(db_stack: Stack, sink: Sink) -> None:
    sink.start()
    intake = Intake(db_stack, **_smarthost(sink.port))
    try:
        outcome = intake.deliver(report(), send=False)
        [outbound_id] = outcome.outbound_ids
        transport = SmtpTransport("127.0.0.1", sink.port, starttls=False)
        _crash_after_handover(intake, transport, outbound_id)
        assert [o.state for o in db_stack.outbound()] == [OutboundState.SENDING]

        # After a restart the sweep finds it stuck in 'sending' and hands it back.
        later = intake.runtime.services.clock() + outbox.STALE_SENDING + timedelta(seconds=1)
        with connection(db_stack.engine) as conn:
            assert outbox.due(conn, later) == [outbound_id]
        intake.runtime.deliver([outbound_id])
    finally:
        intake.close()
    first, second = sink.received
    assert first.data == second.data  # delivered again, but the very same mail: same bytes, same Message-ID
    assert [o.state for o in db_stack.outbound()] == [OutboundState.SENT]


def test_the_maildir_transport_writes_a_mail_only_once(db_stack: Stack) -> None:
    intake = Intake(db_stack, **NO_COMMITTEE)
    try:
        [outbound_id] = intake.deliver(report(), send=False).outbound_ids
        transport = MaildirTransport(db_stack.maildir)
        _crash_after_handover(intake, transport, outbound_id)
        with connection(db_stack.engine) as conn:
            outbox.due(conn, intake.runtime.services.clock() + outbox.STALE_SENDING + timedelta(seconds=1))
        intake.runtime.deliver([outbound_id])
    finally:
        intake.close()
    assert len(db_stack.delivered()) == 1


def test_an_unreachable_smarthost_is_named_without_leaking_the_mail(sqlite_stack: Stack) -> None:
    port = free_port()
    transport = SmtpTransport("127.0.0.1", port, starttls=False, timeout=2)
    from mailflow.errors import TransportError

    with pytest.raises(TransportError) as failed:
        transport.send("conduct@example.org", ["jane@example.net"], report(), "x@example.org")
    message = str(failed.value)
    assert f"127.0.0.1:{port}" in message and "jane" not in message and not failed.value.permanent
