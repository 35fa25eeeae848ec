"""Every message has a time budget: one over it is recorded as "too complex to read" (kept as
received, on its case, the reporter acknowledged, the committee's copy and the chairs told) and
the others of its batch go on. And inputs that once quarantined a message: UTF-8 headers
(RFC 6532), address fields the standard library's parser cannot read."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from mailflow.model import Alert, AlertKind, Case, InboundMessage, InboundState, OutboundKind, OutboundState
from tests.support.intake import Intake
from tests.support.mail import header, report
from tests.support.stack import Stack

BUDGET = 0.3  # seconds; the hostile message below takes about 1 s to read on the 2-core machine


def hostile(n: int = 0) -> bytes:
    html = "<div><p class='a'>word &amp; <b>bold</b> <!-- c --> text</p></div>\n" * 20_000
    return (
        f"From: Eve Sender <eve{n}@example.net>\r\nTo: conduct@example.org\r\nSubject: something {n}\r\n"
        f"Message-ID: <hostile-{n}@example.net>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()


@pytest.fixture
def intake(sqlite_stack: Stack) -> Iterator[Intake]:
    helper = Intake(sqlite_stack, queue={"message_time_limit_seconds": BUDGET})
    yield helper
    helper.close()


def test_a_message_over_its_budget_is_recorded_acknowledged_and_the_chairs_told(
    sqlite_stack: Stack, intake: Intake
) -> None:
    outcome = intake.deliver(hostile(), mail_from="eve0@example.net")
    assert outcome.state is InboundState.PROCESSED and outcome.created
    with sqlite_stack.session() as s:
        inbound = s.get(InboundMessage, outcome.inbound_id)
        assert inbound is not None and inbound.case_id == outcome.case_id
        reason = inbound.reason or ""
        # the step it ran out of time in (parsing on a slow machine, classifying on a fast one) is named
        assert "too complex to read" in reason and re.search(r"while [a-z]+", reason)
        [alert] = s.scalars(select(Alert).where(Alert.kind == AlertKind.TOO_COMPLEX))
        assert alert.case_id == outcome.case_id and alert.inbound_id == outcome.inbound_id
    kinds = {o.kind: o for o in sqlite_stack.outbound()}
    assert kinds[OutboundKind.ACKNOWLEDGEMENT].state is OutboundState.SENT
    copies = [m for m in sqlite_stack.delivered() if "eve0@example.net" not in header(m, "To")]
    assert copies and all(b"too complex to read" in copy for copy in copies)  # the committee hears of it
    assert not any(b"<b>bold</b>" in copy for copy in copies)


def test_one_slow_message_does_not_hold_up_its_batch(sqlite_stack: Stack, intake: Intake) -> None:
    from mailflow.inbound.spool import Envelope
    from mailflow.model import InboundSource

    items = [hostile(1), report(sender="Kim <kim@example.net>"), hostile(2), report(sender="Lu <lu@example.net>")]
    ids = [
        intake.spool.accept(raw, Envelope(InboundSource.SMTP, "x@example.net", ("conduct@example.org",)))
        for raw in items
    ]
    outcomes = intake.runtime.process_now([a.inbound_id for a in ids])
    assert [o.state for o in outcomes] == [InboundState.PROCESSED] * 4
    assert sqlite_stack.count(Case) == 4
    with sqlite_stack.session() as s:
        reasons = [s.get(InboundMessage, o.inbound_id).reason for o in outcomes]  # type: ignore[union-attr]
    assert [r is not None and "too complex" in r for r in reasons] == [True, False, True, False]
    acks = [o for o in sqlite_stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]
    assert len(acks) == 4 and all(a.state is OutboundState.SENT for a in acks)


RFC6532 = (
    "From: Jérôme Ünïcode <jérôme@exämple.net>\r\nTo: conduct@example.org\r\nSubject: Café\r\n"
    "Message-ID: <é-1@exämple.net>\r\n\r\nSomething happened at the café.\r\n"
).encode()
MUTATED = (
    b"From: J\xc3\xa9r <j\xc3\xa9r\xff@exa\xc3mple.net>\r\nTo: conduct@example.org\r\n"
    b"Subject: Caf\xc3\xa9 \xed\xa0\x80\xff\r\n"
    b"Message-ID: <\xc3\xa9\xff@ex\xed\xa0\x80.net>\r\nReferences: <a\xff@b>\r\n\r\nbody\r\n"
)
NESTED_GROUPS = (
    b"From: "
    + b"a:" * 2000
    + b"x@example.net"
    + b";" * 2000
    + b"\r\nTo: conduct@example.org\r\nSubject: x\r\n\r\nbody\r\n"
)
NESTED_COMMENTS = b"From: " + b"(" * 5000 + b"x@example.net\r\nTo: conduct@example.org\r\nSubject: x\r\n\r\nbody\r\n"


@pytest.mark.parametrize(
    "raw", [RFC6532, MUTATED, NESTED_GROUPS, NESTED_COMMENTS], ids=["rfc6532", "mutated", "groups", "comments"]
)
def test_utf8_headers_and_unreadable_address_fields_are_processed(db_stack: Stack, raw: bytes) -> None:
    intake = Intake(db_stack)
    try:
        outcome = intake.deliver(raw, mail_from="x@example.net")
    finally:
        intake.close()
    assert outcome.state is InboundState.PROCESSED, outcome.reason
    assert db_stack.count(Case) == 1


def test_an_internationalised_reporter_is_acknowledged_at_their_address(sqlite_stack: Stack) -> None:
    intake = Intake(sqlite_stack)
    try:
        intake.deliver(RFC6532, mail_from="jérôme@exämple.net")
    finally:
        intake.close()
    [ack] = [o for o in sqlite_stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]
    assert ack.recipients == ["jérôme@xn--exmple-cua.net"] and ack.state is OutboundState.SENT  # with SMTPUTF8


def test_a_failure_names_the_step_it_happened_in() -> None:
    from mailflow.pipeline import _failed_step, understand

    step = [""]
    with pytest.raises(AttributeError):
        understand(report(), "jane@example.net", None, None, step)  # type: ignore[arg-type]
    assert step == ["authenticating the sender"]  # parsed, classified, reply text read: then it failed

    in_the_gate = compile("raise ValueError('x')", f"{os.sep}srv{os.sep}mailflow{os.sep}policy{os.sep}gate.py", "exec")
    try:
        exec(in_the_gate)
    except ValueError as exc:
        assert _failed_step(exc, "routing") == "the policy gate"
        assert _failed_step(exc, "recording") == "recording"
    try:
        raise KeyError("k")
    except KeyError as exc:
        assert _failed_step(exc, "routing") == "routing"


def test_a_report_the_reading_fails_on_is_still_heard(
    sqlite_stack: Stack, intake: Intake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every report is heard: a message that makes the reading fail (here a fault put into the
    reply-text step for this one body) is recorded without its content, on a case of its own, the
    reporter acknowledged and the chairs alerted, instead of lying in quarantine unheard."""
    import mailflow.pipeline

    real = mailflow.pipeline.reply_text

    def failing(message):  # type: ignore[no-untyped-def]
        if "BREAKS THE READER" in message.text:
            raise KeyError("a fault put in by the test")
        return real(message)

    monkeypatch.setattr(mailflow.pipeline, "reply_text", failing)
    outcome = intake.deliver(report(body="BREAKS THE READER: someone shouted at me.\n"))
    assert outcome.state is InboundState.PROCESSED and outcome.created, outcome.reason
    with sqlite_stack.session() as s:
        inbound = s.get(InboundMessage, outcome.inbound_id)
        assert inbound is not None and "an unexpected error while reading the reply text" in (inbound.reason or "")
        [alert] = s.scalars(select(Alert).where(Alert.kind == AlertKind.TOO_COMPLEX))
        assert alert.case_id == outcome.case_id
    [ack] = [o for o in sqlite_stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]
    assert ack.state is OutboundState.SENT and ack.recipients == ["jane@example.net"]


def test_a_members_mail_too_complex_to_read_is_not_relayed_and_obeys_nothing(sqlite_stack: Stack) -> None:
    """What the gate cannot read to the end does not leave: a member's mail over its budget, to the
    reporter's conversation, is recorded, and its author is told; the reporter gets nothing of it."""
    from mailflow.case import service as cases
    from tests.support.committee import AUTH, BO, REPORTER, deliver, delivered_to, from_our_mx, open_case

    service = sqlite_stack.start(sqlite_stack.settings(**AUTH, queue={"message_time_limit_seconds": BUDGET}))
    case, addr = open_case(sqlite_stack, service)
    before = len(delivered_to(sqlite_stack, REPORTER))
    slow = hostile(7).replace(b"From: Eve Sender <eve7@example.net>", f"From: Bo Member <{BO}>".encode())
    slow = slow.replace(b"To: conduct@example.org", f"To: {addr[cases.REPORTER_CONVERSATION]}".encode())
    slow = slow.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")  # SMTP lines end in CRLF
    deliver(sqlite_stack, service, from_our_mx(BO, slow), BO, addr[cases.REPORTER_CONVERSATION])

    assert len(delivered_to(sqlite_stack, REPORTER)) == before  # nothing relayed
    assert not [o for o in sqlite_stack.outbound() if o.kind is OutboundKind.RELAY]
    [told] = [m for m in delivered_to(sqlite_stack, BO) if "Not read:" in header(m, "Subject")]
    assert b"nothing of it was relayed" in told
    with sqlite_stack.session() as s:
        assert s.get(Case, case.id) is not None
