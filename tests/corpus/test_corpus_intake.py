"""Every message of the shared real-world corpus (~1,000: clients, charsets, broken MIME, bounces,
a list month) is accepted over SMTP and stored without the loss of one byte (below our Received
field); each is then recorded or quarantined with a reason, and none is left behind."""

from __future__ import annotations

import smtplib
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from mailflow.inbound.spool import Envelope, Spool
from mailflow.model import Blob, InboundMessage, InboundSource, InboundState
from mailflow.runtime import Runtime
from tests.support.corpus_messages import CorpusMessage, all_messages, as_on_the_wire
from tests.support.stack import CONDUCT, Stack
from tests.support.trace import smtp_trace

TRACE = smtp_trace("corpus.example")


def _send_batch(port: int, batch: list[CorpusMessage]) -> list[tuple[str, bytes, int]]:
    out = []
    with smtplib.SMTP("127.0.0.1", port, timeout=60, local_hostname="corpus.example") as client:
        client.ehlo()
        for message in batch:
            wire = as_on_the_wire(message.raw)
            client.mail("corpus@example.net")
            client.rcpt(CONDUCT)
            code, text = client.data(wire)
            assert code == 250, f"{message.name}: {code} {text!r}"
            out.append((message.name, wire, int(text.rsplit(b" ", 1)[1])))
    return out


@pytest.mark.parametrize("stack", ["sqlite+stub", "postgres+redis"], indirect=True)
def test_every_corpus_message_is_accepted_stored_exactly_and_processed(stack: Stack) -> None:
    messages = all_messages()
    assert len(messages) >= 980
    # One envelope sender for a thousand messages: past the default hourly limit of 100.
    service = stack.start(stack.settings(intake={"max_messages_per_sender_per_hour": 10_000}))
    batches = [list(messages[i::8]) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        sent = [item for result in pool.map(lambda b: _send_batch(service.smtp_port, b), batches) for item in result]
    stack.wait_idle(timeout=600)

    with stack.session() as s:
        for name, wire, inbound_id in sent:
            inbound = s.get(InboundMessage, inbound_id)
            assert inbound is not None, name
            stored = s.get(Blob, inbound.blob_id).data  # type: ignore[union-attr]
            assert stored.endswith(wire) and TRACE.fullmatch(stored[: -len(wire)]), f"{name}: stored bytes differ"
        states = Counter(m.state for m in s.scalars(select(InboundMessage)))
        quarantined = list(s.scalars(select(InboundMessage).where(InboundMessage.state == InboundState.QUARANTINED)))
    assert states[InboundState.RECEIVED] == 0
    assert all(q.reason for q in quarantined)
    distinct = len({wire for _, wire, _ in sent})
    assert sum(states.values()) == distinct  # identical bytes are stored once, everything else is there
    print(f"\ncorpus over SMTP: {len(sent)} sent, {distinct} distinct, states {dict(states)}")
    for q in quarantined:
        print(f"  quarantined #{q.id}: {q.reason}")


def test_every_corpus_message_is_kept_byte_for_byte_from_a_pipe(sqlite_stack: Stack) -> None:
    """The pipe intake keeps the bytes as they came, line endings included."""
    runtime = Runtime.build(sqlite_stack.settings())
    try:
        spool = Spool(runtime.engine)
        for message in all_messages():
            accepted = spool.accept(message.raw, Envelope(InboundSource.PIPE, None, (CONDUCT,)))
            if accepted.new:
                [outcome] = runtime.process_now([accepted.inbound_id])
                assert outcome.state is not InboundState.RECEIVED, message.name
            with sqlite_stack.session() as s:
                inbound = s.get(InboundMessage, accepted.inbound_id)
                assert s.get(Blob, inbound.blob_id).data == message.raw, message.name  # type: ignore[union-attr]
    finally:
        runtime.close()
