"""Threading, de-duplication and the acknowledgement rules, on SQLite and PostgreSQL.

Each test delivers through the spool and the pipeline synchronously (tests/support/intake.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from string import Template

import pytest
from sqlalchemy import select

from mailflow.model import (
    Case,
    DiaryEntry,
    DiaryKind,
    InboundMessage,
    InboundState,
    OutboundKind,
    OutboundMessage,
)
from tests.support.intake import Intake
from tests.support.mail import report
from tests.support.stack import CONDUCT, Stack

CLIENTS = Path(__file__).resolve().parents[1] / "fixtures" / "clients"


@pytest.fixture
def intake(db_stack: Stack) -> Iterator[Intake]:
    pipe = Intake(db_stack)
    yield pipe
    pipe.close()


def _acks(stack: Stack) -> list[OutboundMessage]:
    return [o for o in stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]


def _case_address(stack: Stack, case: Case) -> str:
    from mailflow.case import service as cases
    from mailflow.parse.addresses import ConductAddress

    with stack.session() as s:
        conv = cases.conversation(s, case.id, cases.REPORTER_CONVERSATION)  # type: ignore[arg-type]
        return ConductAddress.parse(CONDUCT).case_address(case.ref, conv.token)  # type: ignore[union-attr]


def _open_case(stack: Stack, intake: Intake) -> tuple[Case, OutboundMessage]:
    intake.deliver(report(message_id="report-1@example.net"))
    [case] = stack.cases()
    [ack] = _acks(stack)
    return case, ack


# -- the tiers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", sorted(p.name for p in CLIENTS.glob("*.eml")))
def test_replies_from_common_clients_land_in_the_case(db_stack: Stack, intake: Intake, fixture: str) -> None:
    case, ack = _open_case(db_stack, intake)
    text = Template((CLIENTS / fixture).read_text(encoding="utf-8")).substitute(
        ack_id=ack.message_id,
        report_id="report-1@example.net",
        case_address=_case_address(db_stack, case),
        tag=f"[conduct #{case.ref}]",
        ref=case.ref,
    )
    outcome = intake.deliver(text.encode("utf-8"))
    assert outcome.case_id == case.id and not outcome.created
    assert len(db_stack.cases()) == 1 and len(_acks(db_stack)) == 1  # no second case, no second acknowledgement


def test_a_case_address_with_a_wrong_token_counts_as_the_bare_address(db_stack: Stack, intake: Intake) -> None:
    case, _ = _open_case(db_stack, intake)
    guessed = f"conduct+{case.ref}.aaaaaaaaaa@example.org"
    outcome = intake.deliver(report(to=guessed, sender="Mallory <mallory@example.com>"), rcpt_to=(guessed,))
    assert outcome.created and outcome.case_id != case.id


def test_subject_tag_threads_mail_from_an_address_already_on_the_case(db_stack: Stack, intake: Intake) -> None:
    case, _ = _open_case(db_stack, intake)
    outcome = intake.deliver(report(subject=f"Re: [conduct #{case.ref}] more details"))
    assert outcome.case_id == case.id and not outcome.created


def test_a_strangers_mail_with_the_tag_opens_a_new_possibly_related_case(db_stack: Stack, intake: Intake) -> None:
    case, _ = _open_case(db_stack, intake)
    outcome = intake.deliver(
        report(
            subject=f"Re: [conduct #{case.ref}] I know what you are doing",
            sender="Mallory <mallory@example.com>",
        ),
        mail_from="mallory@example.com",
    )
    assert outcome.created
    with db_stack.session() as s:
        new_case = s.get(Case, outcome.case_id)
        assert new_case.related_case_id == case.id  # type: ignore[union-attr]
        # nothing of the first case's diary reached the stranger's case, nor the other way round
        assert {e.case_id for e in s.scalars(select(DiaryEntry)) if e.from_addr == "mallory@example.com"} == {
            outcome.case_id
        }


def test_a_committee_member_may_thread_by_tag(db_stack: Stack, intake: Intake) -> None:
    case, _ = _open_case(db_stack, intake)
    outcome = intake.deliver(
        report(subject=f"[conduct #{case.ref}] note", sender="Bo Member <bo@committee.example>"),
        mail_from="bo@committee.example",
    )
    assert outcome.case_id == case.id


def test_references_thread_within_the_people_of_the_conversation(db_stack: Stack, intake: Intake) -> None:
    case, _ = _open_case(db_stack, intake)
    # the reporter replies to her own report with more detail: her conversation
    mine = intake.deliver(report(subject="Re: Report", headers={"In-Reply-To": "<report-1@example.net>"}))
    assert mine.case_id == case.id and not mine.created
    # someone else who cites the report's Message-ID: a new case, possibly related (never her thread)
    theirs = intake.deliver(
        report(subject="Re: Report", headers={"In-Reply-To": "<report-1@example.net>"}, sender="x <x@example.com>")
    )
    assert theirs.created and theirs.case_id != case.id
    assert db_stack.cases()[-1].related_case_id == case.id


# -- the same message twice ------------------------------------------------------------------------


def test_the_same_bytes_twice_are_stored_once(db_stack: Stack, intake: Intake) -> None:
    raw = report()
    first = intake.deliver(raw)
    second = intake.deliver(raw)
    assert second.inbound_id == first.inbound_id
    assert db_stack.count(InboundMessage) == 1 and len(db_stack.cases()) == 1 and len(_acks(db_stack)) == 1


def test_the_same_message_id_twice_is_one_case_and_one_acknowledgement(db_stack: Stack, intake: Intake) -> None:
    raw = report(message_id="twice@example.net")
    intake.deliver(raw)
    # a second delivery with a different trace header: different bytes, same message
    second = intake.deliver(b"Received: from relay.example by mx.example; Tue, 3 Nov 2026 10:00:05 +0000\r\n" + raw)
    assert second.state is InboundState.DUPLICATE
    assert db_stack.count(InboundMessage) == 2  # both copies kept: every byte is evidence
    assert len(db_stack.cases()) == 1 and len(_acks(db_stack)) == 1


def test_one_mail_to_the_conduct_address_and_a_case_address_is_one_case(db_stack: Stack, intake: Intake) -> None:
    case, _ = _open_case(db_stack, intake)
    address = _case_address(db_stack, case)
    raw = report(to=f"{CONDUCT}, {address}", message_id="both@example.net", sender="Sam Witness <sam@example.net>")
    # delivered as two SMTP transactions (one per recipient), the bare address first
    first = intake.deliver(raw, rcpt_to=(CONDUCT,), mail_from="sam@example.net")
    second = intake.deliver(raw + b"\r\n", rcpt_to=(address,), mail_from="sam@example.net")
    assert first.case_id == case.id and second.state is InboundState.DUPLICATE
    assert len(db_stack.cases()) == 1 and len(_acks(db_stack)) == 1


# -- who gets an acknowledgement ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "mail_from"),
    [
        ({"Auto-Submitted": "auto-replied"}, "jane@example.net"),
        ({"List-Id": "<devel.lists.example.org>"}, "jane@example.net"),
        ({"Precedence": "bulk"}, "jane@example.net"),
        ({}, ""),  # null envelope sender
    ],
    ids=["auto-replied", "list", "bulk", "null-sender"],
)
def test_automatic_list_and_bulk_mail_is_recorded_but_never_acknowledged(
    db_stack: Stack, intake: Intake, headers: dict[str, str], mail_from: str
) -> None:
    intake.deliver(report(headers=headers), mail_from=mail_from)
    assert db_stack.count(InboundMessage, InboundMessage.state == InboundState.PROCESSED) == 1
    assert _acks(db_stack) == []


def test_acknowledgements_are_rate_limited_per_sender(db_stack: Stack, intake: Intake) -> None:
    for n in range(5):
        intake.deliver(report(subject=f"report {n}"))
    assert len(db_stack.cases()) == 5
    assert len(_acks(db_stack)) == 3  # rate_limit_count, default 3 per hour
    with db_stack.session() as s:
        notes = list(s.scalars(select(DiaryEntry).where(DiaryEntry.kind == DiaryKind.NOTE)))
    assert [n.detail for n in notes] == [
        {"note": "acknowledgement withheld", "reason": "rate limit for this sender reached"}
    ] * 2


def test_mail_from_our_own_address_is_never_answered(db_stack: Stack, intake: Intake) -> None:
    intake.deliver(report(sender=f"Committee <{CONDUCT}>"), mail_from=CONDUCT)
    assert _acks(db_stack) == []


def test_imported_history_is_recorded_without_acknowledgement(db_stack: Stack, intake: Intake) -> None:
    outcome = intake.deliver(report(), notify=False, mail_from=None)
    assert outcome.created and _acks(db_stack) == []
    with db_stack.session() as s:
        assert [e.kind for e in s.scalars(select(DiaryEntry))] == [DiaryKind.REPORT]


def test_a_bounce_of_our_acknowledgement_is_recorded_against_it(db_stack: Stack, intake: Intake) -> None:
    case, ack = _open_case(db_stack, intake)
    bounce = (
        "From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\r\n"
        f"To: {_case_address(db_stack, case)}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain\r\n\r\nThis is the mail system. Your message could not be delivered.\r\n"
        "--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; jane@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Example CoC Committee <{CONDUCT}>\r\nMessage-ID: <{ack.message_id}>\r\nSubject: x\r\n"
        "--b--\r\n"
    ).encode()
    # To the case address, quoting the acknowledgement's Message-ID: recorded against it, marks nothing
    # (anyone could send this; only the mail's own return path counts: VERP)
    outcome = intake.deliver(bounce, mail_from="", rcpt_to=(_case_address(db_stack, case),))
    assert outcome.case_id == case.id and not outcome.created
    with db_stack.session() as s:
        entry = s.scalars(select(DiaryEntry).where(DiaryEntry.kind == DiaryKind.BOUNCE)).one()
        assert entry.outbound_id == ack.id
        assert s.get(OutboundMessage, ack.id).state.value == "sent"  # type: ignore[union-attr]

    # To the acknowledgement's own return path: it bounced
    outcome = intake.deliver(
        bounce.replace(b"\r\n\r\n", b"\r\nX-Again: 1\r\n\r\n", 1), mail_from="", rcpt_to=(ack.mail_from,)
    )
    assert outcome.case_id == case.id and not outcome.created
    with db_stack.session() as s:
        assert s.get(OutboundMessage, ack.id).state.value == "bounced"  # type: ignore[union-attr]
    assert len(_acks(db_stack)) == 1


def test_a_bounce_that_names_nothing_of_ours_opens_no_case(db_stack: Stack, intake: Intake) -> None:
    bounce = report(
        subject="Delivery Status Notification (Failure)",
        sender="Mail Delivery Subsystem <mailer-daemon@googlemail.com>",
        headers={"Auto-Submitted": "auto-replied", "X-Failed-Recipients": "nobody@example.com"},
    )
    outcome = intake.deliver(bounce, mail_from="")
    assert outcome.state is InboundState.PROCESSED and outcome.case_id is None
    assert db_stack.cases() == []


def test_the_diary_chain_detects_an_edited_entry(db_stack: Stack, intake: Intake) -> None:
    from mailflow.case import diary

    case, _ = _open_case(db_stack, intake)
    with db_stack.session() as s:
        assert diary.verify(s, case.id) is None  # type: ignore[arg-type]
        first = s.scalars(select(DiaryEntry).where(DiaryEntry.case_id == case.id, DiaryEntry.seq == 1)).one()
        first.new_text = "something else"
        s.add(first)
        s.commit()
        assert diary.verify(s, case.id) == 1  # type: ignore[arg-type]
