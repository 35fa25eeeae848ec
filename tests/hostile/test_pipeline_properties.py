"""Threading and recording never lose a message: whatever arrives, every spooled id ends processed
(in a case, or with an alert for the chairs when it fits none), duplicate, or quarantined with its
reason and an alert, and never for "an unexpected error" of ours.

The real pipeline (parse, authenticate, thread, record, route, draft) on a real SQLite database
(``tests.support.intake``), one database for all the examples of a run, as a live service sees
one message after another.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import func, select

from mailflow.model import Alert, InboundMessage, InboundSource, InboundState
from tests.hostile.strategies import SEEDS, raw_messages
from tests.support.intake import Intake
from tests.support.stack import CONDUCT, Stack

RECIPIENTS = (CONDUCT, "conduct+2026-0001.abcdefghij@example.org", "conduct+bounce.abcdefgh@example.org")
SENDERS = (None, "", "jane@example.net", "ada@committee.example", "MAILER-DAEMON@mx.example.org")


@contextmanager
def pipeline() -> Iterator[tuple[Stack, Intake]]:
    with tempfile.TemporaryDirectory(prefix="mailflow-hostile-") as tmp:
        stack = Stack("sqlite+stub", Path(tmp), None, "stub://")
        intake = Intake(stack)
        try:
            yield stack, intake
        finally:
            intake.close()
            stack.stop_all()


def test_no_message_is_lost() -> None:
    seen: list[int] = []
    with pipeline() as (stack, intake):

        @given(raw_messages, st.sampled_from(RECIPIENTS), st.sampled_from(SENDERS),
               st.sampled_from([InboundSource.SMTP, InboundSource.PIPE, InboundSource.IMAP]))  # fmt: skip
        @example(SEEDS[4], CONDUCT, "jöran@exämple.net", InboundSource.SMTP)
        @example(
            b"From: x " + b"(" * 3000 + b")" * 3000 + b" <y@example.net>\r\nReply-To: " + b"g:" * 3000
            + b"\r\nTo: conduct@example.org\r\nSubject: two address fields\r\n\r\nhello\r\n",
            CONDUCT, "y@example.net", InboundSource.SMTP,
        )  # fmt: skip
        def delivered(raw: bytes, rcpt: str, mail_from: str | None, source: InboundSource) -> None:
            outcome = intake.deliver(raw, mail_from=mail_from, rcpt_to=(rcpt,), source=source, send=False)
            seen.append(outcome.inbound_id)
            with stack.session() as s:
                row = s.get(InboundMessage, outcome.inbound_id)
                assert row is not None
                alerts = s.scalar(select(func.count()).select_from(Alert).where(Alert.inbound_id == row.id))
            assert row.state in (InboundState.PROCESSED, InboundState.DUPLICATE, InboundState.QUARANTINED)
            if row.state is InboundState.QUARANTINED:
                assert row.reason and not row.reason.startswith("unexpected"), row.reason
                assert alerts, "a quarantined message reaches the chairs"
            elif row.state is InboundState.PROCESSED:
                assert row.case_id is not None or alerts, "stored with nobody told"

        delivered()
        with stack.session() as s:
            waiting = s.scalar(
                select(func.count()).select_from(InboundMessage).where(InboundMessage.state == InboundState.RECEIVED)
            )
        assert waiting == 0
    assert len(set(seen)) > 5  # the property ran on many different messages
