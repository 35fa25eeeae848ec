"""Each delivery's outcome is recorded as soon as the smarthost answers: a sender killed (kill -9)
part-way through a batch sends again only the one mail that was in flight; an outcome whose save
fails is saved when the database is back, never forgotten, never a reason to send twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator

import pytest

from mailflow.database import connection
from mailflow.errors import TemporaryFailure
from mailflow.model import OutboundState
from mailflow.outbound import outbox
from mailflow.outbound.sender import until_it_lands
from tests.support.intake import Intake
from tests.support.mail import report
from tests.support.sink import Sink
from tests.support.stack import Stack, write_config

DELIVER = """
import sys
from mailflow.config import load_settings
from mailflow.runtime import Runtime
Runtime.build(load_settings(), run_migrations=False).deliver([int(i) for i in sys.argv[1:]])
"""


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.stop()


def _smarthost(port: int) -> dict[str, object]:
    return {
        "outgoing": {"transport": f"smtp://127.0.0.1:{port}", "starttls": False, "retry_base_seconds": 0.2},
        "committee": {"members": []},
    }


@pytest.mark.parametrize("db_stack", ["sqlite"], indirect=True)
def test_a_sender_killed_mid_batch_sends_again_only_the_mail_in_flight(db_stack: Stack, sink: Sink) -> None:
    settings = db_stack.settings(**_smarthost(sink.port))
    config = write_config(db_stack.tmp / "mailflow.toml", settings)
    intake = Intake(db_stack, **_smarthost(sink.port))
    try:
        drafted = [
            oid
            for n in range(10)
            for oid in intake.deliver(
                report(sender=f"Reporter {n} <reporter{n}@example.net>", message_id=f"crash-{n}@example.net"),
                mail_from=f"reporter{n}@example.net",
                send=False,
            ).outbound_ids
        ]
        assert len(drafted) == 10
        child: subprocess.Popen[bytes] | None = None

        def kill_on_the_fourth(count: int) -> None:
            if count == 4 and child is not None:
                os.kill(child.pid, signal.SIGKILL)  # the smarthost has the 4th; its sender never hears so

        sink.handler.on_message = kill_on_the_fourth
        sink.start()
        env = {**os.environ, "MAILFLOW_CONFIG": str(config)}
        child = subprocess.Popen([sys.executable, "-c", DELIVER, *map(str, drafted)], env=env)
        assert child.wait(timeout=60) == -signal.SIGKILL
        states = Counter(o.state for o in db_stack.outbound())
        assert states == {OutboundState.SENT: 3, OutboundState.SENDING: 7}  # three answered and recorded

        sink.handler.on_message = None
        with connection(db_stack.engine) as conn:  # what the sweep does: release a dead claimant's mails
            due = outbox.due(conn, intake.runtime.services.clock())
        assert sorted(due) == sorted(drafted[3:])
        intake.runtime.deliver(due)
    finally:
        intake.close()
    assert [o.state for o in db_stack.outbound()] == [OutboundState.SENT] * 10
    copies = Counter(sink.handler.message_ids())
    assert len(copies) == 10
    assert sorted(copies.values()) == [1] * 9 + [2]  # only the mail in flight went twice


def test_an_outcome_is_saved_until_it_lands_and_an_interruption_waits_for_it() -> None:
    attempts: list[int] = []

    class Interrupted(BaseException):
        pass

    def save() -> str:
        attempts.append(1)
        if len(attempts) <= 3:
            raise TemporaryFailure("database unavailable: connection refused")
        if len(attempts) == 4:
            raise Interrupted  # a time limit going off while the outcome is unsaved
        return "saved"

    with pytest.raises(Interrupted):
        until_it_lands(save, what="an outcome")
    assert len(attempts) == 5  # saved first, then the interruption


def test_saving_an_outcome_gives_up_only_on_a_real_error() -> None:
    def save() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError):
        until_it_lands(save, what="an outcome")
