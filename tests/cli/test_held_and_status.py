"""``mailflow held`` and ``mailflow status``, as an operator runs them: a real process, a real database.

The mail is processed by the pipeline itself (``tests.support.intake``), as if the local MTA had
piped it in (a trusted hop: our MX's Authentication-Results count).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.case import service as cases
from mailflow.model import DiaryEntry, DiaryKind, HeldMail, HeldState, InboundSource, OutboundMessage, OutboundState
from tests.support import documents
from tests.support.cli import run
from tests.support.committee import ADA, AUTH, BO, addresses, member_mail
from tests.support.intake import Intake
from tests.support.mail import report
from tests.support.stack import CONDUCT, Stack, write_config


@pytest.fixture
def intake(db_stack: Stack) -> Iterator[Intake]:
    pipe = Intake(db_stack, **AUTH)
    yield pipe
    pipe.close()


def _held_photo(stack: Stack, intake: Intake) -> None:
    """Given a case, a conversation with Eric, and Bo's photo to Eric held by the gate."""
    intake.deliver(report(sender="Jane Reporter <jane@example.net>"), source=InboundSource.PIPE)
    [case] = stack.cases()
    addr = addresses(stack, case)
    start = member_mail(ADA, addr[cases.TEAM], "[+ Eric Example <eric@example.com>]\n\nHello Eric.\n")
    intake.deliver(start, mail_from=ADA, rcpt_to=(addr[cases.TEAM],), source=InboundSource.PIPE)
    addr = addresses(stack, case)
    photo = member_mail(BO, addr[2], "Hello Eric, a photo.\n", attachments=[("p.jpg", "image/jpeg", documents.jpeg())])
    intake.deliver(photo, mail_from=BO, rcpt_to=(addr[2],), source=InboundSource.PIPE)


def test_held_list_and_a_chairs_release_from_the_shell(db_stack: Stack, intake: Intake) -> None:
    _held_photo(db_stack, intake)
    config = write_config(db_stack.tmp / "mailflow.toml", db_stack.settings(**AUTH))

    # When the operator lists what the gate held
    listed = run(config, "held", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    assert (row["author"], row["rules"], row["recipients"]) == ("Bo Member", ["unread-part"], ["eric@example.com"])

    # Then a member who is not a chair cannot release it, and a reason is required
    assert run(config, "held", "release", str(row["id"]), "--as", "Bo Member", "--reason", "x").returncode != 0
    assert run(config, "held", "release", str(row["id"]), "--as", "Ada Chair", "--reason", " ").returncode != 0

    # When the chair releases it with her reason
    done = run(config, "held", "release", str(row["id"]), "--as", "Ada Chair", "--reason", "a landscape photo")
    assert done.returncode == 0, done.stderr

    # Then it was sent, and the diary names her and the reason; nothing waits any more
    with db_stack.session() as s:
        held = s.scalars(select(HeldMail)).one()
        sent = s.get(OutboundMessage, held.outbound_id)
        released = s.scalars(select(DiaryEntry).where(DiaryEntry.kind == DiaryKind.RELEASED)).one()
    assert held.state is HeldState.RELEASED and sent is not None and sent.state is OutboundState.SENT
    assert (released.actor, released.detail["reason"]) == ("Ada Chair", "a landscape photo")
    assert json.loads(run(config, "held", "list", "--json").stdout) == []

    # And it cannot be released twice
    assert run(config, "held", "release", str(row["id"]), "--as", "Ada Chair", "--reason", "again").returncode != 0


def test_status_says_what_needs_a_person(db_stack: Stack, intake: Intake, tmp_path: Path) -> None:
    config = write_config(tmp_path / "mailflow.toml", db_stack.settings(**AUTH))
    quiet = run(config, "status", "--json")
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)["held"] == 0

    # Given held mail, a quarantined message and a bounce that belongs to no case
    _held_photo(db_stack, intake)
    intake.deliver(b"\x00\x01 not a message\r\n", source=InboundSource.PIPE)
    bounce = report(
        "Undelivered Mail Returned to Sender",
        "This is the mail system. Your message could not be delivered to one or more recipients.\n",
        sender="Mail Delivery System <MAILER-DAEMON@mx.example.com>",
    )
    intake.deliver(bounce, mail_from="", rcpt_to=(CONDUCT,), source=InboundSource.PIPE)

    # Then status counts each, names the alerts waiting for the chairs, and exits 1
    busy = run(config, "status", "--json")
    assert busy.returncode == 1
    report_ = json.loads(busy.stdout)
    assert (report_["held"], report_["quarantined"], report_["unplaced"]) == (1, 1, 1)
    assert report_["alerts_waiting"] == {"held": 1, "quarantined": 1, "unplaced": 1}
    assert report_["intake_space"]["ok"] is True
    text = run(config, "status").stdout.decode()
    assert "mailflow held list" in text and "mailflow quarantine list" in text


def test_status_says_when_deadlines_are_not_being_checked(db_stack: Stack, intake: Intake, tmp_path: Path) -> None:
    from datetime import timedelta

    from mailflow.case import deadlines
    from mailflow.clock import utcnow
    from mailflow.database import connection

    config = write_config(tmp_path / "mailflow.toml", db_stack.settings(**AUTH))
    outcome = intake.deliver(report())
    assert outcome.case_id is not None

    # Given a deadline an hour past its date that no check has fired (no scheduler running)
    with connection(db_stack.engine) as conn:
        deadlines.plan(conn, outcome.case_id, "reply_by-1", utcnow() - timedelta(hours=1), now=utcnow())

    # Then status says so, and that a person must look
    late = run(config, "status", "--json")
    assert late.returncode == 1
    figures = json.loads(late.stdout)
    assert figures["deadlines_due_unchecked"] == 1 and figures["deadlines_oldest_unchecked_seconds"] >= 3600
    assert "is the scheduler running" in run(config, "status").stdout.decode()

    # When a check runs, the deadline fires once and counts among those passed this week
    assert run(config, "tick").returncode == 0
    checked = json.loads(run(config, "status", "--json").stdout)
    assert checked["deadlines_due_unchecked"] == 0 and checked["deadlines_fired_7d"] == 1
    # and the chairs had it in their digest at once (the first digest of its kind)
    assert [o.subject for o in db_stack.outbound() if "Deadlines that passed" in o.subject] == [
        "[Example CoC Committee] Deadlines that passed (1)"
    ]
