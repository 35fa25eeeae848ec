"""Templated notices approved by the chair from her mail client, the deadlines (``mailflow tick``),
and feedback gating enactment - end to end over real SMTP, and the real ``mailflow`` command."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from mailflow.case import service as cases
from mailflow.model import Case, Deadline, DiaryKind, NoticeDraft, OutboundKind
from mailflow.service import Service
from tests.support.cli import run
from tests.support.committee import (
    ADA,
    AUTH,
    BO,
    CY,
    REPORTER,
    deliver,
    delivered_to,
    diary,
    member_mail,
    of_kind,
    open_case,
    texts_to,
)
from tests.support.mail import header, parse, report
from tests.support.stack import Stack, write_config

STATUS = "/draft reporter/status-update\nstatus: We spoke with two witnesses.\n\nA decision by 10 December.\n"


def fired_on(stack: Stack, case: Case) -> list[str]:
    """The deadlines of the case that fired, by name."""
    with stack.session() as s:
        rows = s.scalars(select(Deadline).where(Deadline.case_id == case.id, Deadline.fired_at.is_not(None)))  # type: ignore[union-attr]
        return sorted(d.name for d in rows)


def drafts_of(stack: Stack) -> list[NoticeDraft]:
    with stack.session() as s:
        return list(s.scalars(select(NoticeDraft).order_by(NoticeDraft.id)))


def reply_to_request(stack: Stack, sender: str, first_line: str, *, auth: str | None = "trusted") -> bytes:
    """A reply to the newest draft's approval request that quotes it, as a mail client does."""
    token = drafts_of(stack)[-1].token
    [request] = [m for m in delivered_to(stack, ADA) if f"Approval token: {token}".encode() in m]
    text = parse(request).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    quoted = "\n".join("> " + line for line in text.splitlines())
    return member_mail(
        sender, TEAM_ADDRESS[0], f"{first_line}\n\nOn Monday the committee wrote:\n{quoted}\n", auth=auth
    )


TEAM_ADDRESS: list[str] = [""]


def start(stack: Stack) -> tuple[Service, Case, dict[int, str]]:
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)
    TEAM_ADDRESS[0] = addr[cases.TEAM]
    return service, case, addr


def test_a_chair_approves_a_draft_by_mail_and_exactly_one_notice_leaves(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service, _case, addr = start(stack)

    # When Bo drafts a status update
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], STATUS), BO, addr[0])

    # Then it waits for approval, and the chair gets the notice as it will leave, with instructions
    [draft] = drafts_of(stack)
    assert (draft.notice, draft.owner, draft.state) == ("reporter/status-update", "Bo Member", "awaiting_approval")
    request = texts_to(stack, ADA)
    assert "We spoke with two witnesses" in request and "A decision by 10 December" in request
    assert f"Approval token: {draft.token}" in request and "Policy gate findings: none" in request
    assert not of_kind(stack, OutboundKind.NOTICE)

    # When Ada replies "approve"
    deliver(stack, service, reply_to_request(stack, ADA, "approve"), ADA, addr[0])

    # Then exactly one notice goes to the reporter, in the committee's name
    [notice] = of_kind(stack, OutboundKind.NOTICE)
    assert notice.recipients == [REPORTER]
    sent = [m for m in delivered_to(stack, REPORTER) if header(m, "Message-ID") == f"<{notice.message_id}>"]
    assert len(sent) == 1 and addr[cases.REPORTER_CONVERSATION] in header(sent[0], "Reply-To")
    assert drafts_of(stack)[0].state == "sent"

    # And replaying the approval sends nothing more, and says why
    deliver(stack, service, reply_to_request(stack, ADA, "approve"), ADA, addr[0])
    assert len(of_kind(stack, OutboundKind.NOTICE)) == 1
    assert "already decided" in texts_to(stack, ADA)


def test_only_an_authenticated_chair_with_the_right_token_can_approve(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service, _case, addr = start(stack)
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], STATUS), BO, addr[0])

    # a member's approval, a forged chair's, a wrong token: nothing is sent
    deliver(stack, service, reply_to_request(stack, BO, "approve"), BO, addr[0])
    deliver(stack, service, reply_to_request(stack, ADA, "approve", auth=None), ADA, addr[0])
    wrong = member_mail(ADA, addr[cases.TEAM], "approve\n\n> Approval token: notarealtoken\n")
    deliver(stack, service, wrong, ADA, addr[0])

    assert not of_kind(stack, OutboundKind.NOTICE)
    assert drafts_of(stack)[0].state == "awaiting_approval"
    assert "only a chair" in texts_to(stack, BO)
    assert "matches no draft" in texts_to(stack, ADA)


def test_an_edited_approval_sends_the_edit_and_a_rejection_sends_nothing(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service, _case, addr = start(stack)
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], STATUS), BO, addr[0])
    edit = "--- begin notice ---\nDear Jane,\n\nwe expect to decide by 12 December.\n--- end notice ---"
    deliver(stack, service, reply_to_request(stack, ADA, edit), ADA, addr[0])
    [notice] = of_kind(stack, OutboundKind.NOTICE)
    [mail] = [m for m in delivered_to(stack, REPORTER) if header(m, "Message-ID") == f"<{notice.message_id}>"]
    assert "we expect to decide by 12 December" in mail.decode() and "two witnesses" not in mail.decode()
    assert drafts_of(stack)[0].edited is True

    deliver(stack, service, member_mail(BO, addr[cases.TEAM], STATUS), BO, addr[0])
    deliver(stack, service, reply_to_request(stack, ADA, "reject too early, wait for the meeting"), ADA, addr[0])
    assert len(of_kind(stack, OutboundKind.NOTICE)) == 1
    rejected = drafts_of(stack)[1]
    assert (rejected.state, rejected.reason) == ("rejected", "too early, wait for the meeting")


def test_tick_at_day_eight_drafts_one_status_update_even_run_twice(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    _service, case, _addr = start(stack)
    config = write_config(stack.tmp / "mailflow.toml", stack.settings(**AUTH))
    day8 = (case.created_at + timedelta(days=8)).isoformat()

    first = run(config, "tick", "--now", day8)
    second = run(config, "tick", "--now", day8)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert b"status-update" in first.stdout and b"0 deadline(s) fired" in second.stdout

    [draft] = drafts_of(stack)
    assert (draft.notice, draft.owner, draft.state) == ("reporter/status-update", "mailflow", "awaiting_approval")
    # the acknowledgement went out in time: no alert for it; nobody wrote to the reporter: a reminder
    assert fired_on(stack, case) == ["personal-reply", "status-update-1"]
    assert any(e.detail.get("deadline") == "status-update-1" for e in diary(stack, case))
    # the lead (none assigned: the chair) is reminded, and the chair has the approval request
    assert "No resolution yet" in " ".join(header(m, "Subject") for m in delivered_to(stack, ADA))
    listed = json.loads(run(config, "drafts", "list", "--json").stdout)
    assert [(d["id"], d["state"]) for d in listed] == [(draft.id, "awaiting_approval")]


def test_a_missing_acknowledgement_alerts_the_chair_once(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH, acknowledgement={"enabled": False}))
    case, _addr = open_case(stack, service)
    config = write_config(stack.tmp / "mailflow.toml", stack.settings(**AUTH))
    at = (case.created_at + timedelta(hours=25)).isoformat()
    assert b": acknowledgement: " in run(config, "tick", "--now", at).stdout
    assert b"0 deadline(s) fired" in run(config, "tick", "--now", at).stdout
    alerts = [m for m in delivered_to(stack, ADA) if "Acknowledgement overdue" in header(m, "Subject")]
    assert len(alerts) == 1


def test_feedback_is_recorded_and_gates_enactment(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service, case, addr = start(stack)
    config = write_config(stack.tmp / "mailflow.toml", stack.settings(**AUTH))

    # The committee agrees on a resolution (Bo proposes, Ada and Cy agree)
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], "/propose private-reprimand\n"), BO, addr[0])
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], "/vote yes\n"), ADA, addr[0])
    deliver(stack, service, member_mail(CY, addr[cases.TEAM], "/vote yes\n"), CY, addr[0])

    # A feedback request on the proposed resolution, approved from the shell
    body = "/draft reporter/feedback-request\n\nA private reprimand and a two-week break from the chat.\n"
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], body), BO, addr[0])
    [draft] = drafts_of(stack)
    refused = run(config, "drafts", "approve", str(draft.id), "--as", "Bo Member")
    assert refused.returncode != 0 and b"only a chair" in refused.stdout + refused.stderr
    approved = run(config, "drafts", "approve", str(draft.id), "--as", "Ada Chair")
    assert approved.returncode == 0, approved.stderr
    assert "two-week break" in texts_to(stack, REPORTER)

    # Enacting now is refused: the reporter has not answered and the window is open
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], "/enact\n"), ADA, addr[0])
    assert "have not answered" in texts_to(stack, ADA)

    # The reporter answers; still no right of reply offered to the reported person
    answer = report("Re: feedback", "That seems fair to me.\n", sender=f"Jane <{REPORTER}>")
    deliver(stack, service, answer, REPORTER, addr[cases.REPORTER_CONVERSATION])
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], "/enact\n"), ADA, addr[0])
    assert "right of reply" in texts_to(stack, ADA)

    # The chair records why not; now it can be enacted, and the record shows what was said
    waive = "/no-right-of-reply the reporter's physical safety\n/enact\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], waive), ADA, addr[0])
    with stack.session() as s:
        stored = s.get(Case, case.id)
    assert stored is not None and stored.state.value == "resolved"
    enacted = [e for e in diary(stack, case) if e.kind is DiaryKind.COMMAND and e.detail["command"] == "/enact"]
    assert [e.detail["ok"] for e in enacted] == [False, False, True]
    assert REPORTER in enacted[-1].detail["result"]


def test_every_shipped_notice_renders(tmp_path: Path, sqlite_stack: Stack) -> None:
    config = write_config(tmp_path / "mailflow.toml", sqlite_stack.settings())
    done = run(config, "templates", "check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_unilateral_and_deadlock_deadlines_fire_once_each(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    settings = stack.settings(**AUTH, notices={"board_address": "board@example.org"})
    service = stack.start(settings)
    case, addr = open_case(stack, service)
    TEAM_ADDRESS[0] = addr[cases.TEAM]
    config = write_config(stack.tmp / "mailflow.toml", settings)
    body = "/unilateral removed Eric from the chat for an hour\n/deadlock\n"
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], body), BO, addr[0])

    # a day later, no report of it: Bo is alerted (and the chair)
    soon = (case.created_at + timedelta(hours=25)).isoformat()
    assert b"unilateral" in run(config, "tick", "--now", soon).stdout
    assert "Unilateral action not reported" in " ".join(header(m, "Subject") for m in delivered_to(stack, BO))

    # after 15 days: the deadlock escalation drafted for the board, once
    later = (case.created_at + timedelta(days=15)).isoformat()
    fired = run(config, "tick", "--now", later).stdout.decode()
    assert "deadlock" in fired
    assert b"0 deadline(s) fired" in run(config, "tick", "--now", later).stdout
    board = [d for d in drafts_of(stack) if d.notice == "board/report"]
    assert len(board) == 1 and board[0].recipients == [{"name": "Board", "address": "board@example.org"}]


def test_a_conflicted_chair_cannot_approve_and_the_fallback_can(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    settings = stack.settings(**AUTH, notices={"fallback_approver": "Cy Member"})
    service = stack.start(settings)
    _case, addr = open_case(stack, service)
    TEAM_ADDRESS[0] = addr[cases.TEAM]
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], "/conflict\n"), ADA, addr[0])
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], STATUS), BO, addr[0])
    [draft] = drafts_of(stack)

    # the request goes to the fallback, not to the conflicted chair
    assert not [m for m in delivered_to(stack, ADA) if f"Approval token: {draft.token}".encode() in m]
    [request] = [m for m in delivered_to(stack, CY) if f"Approval token: {draft.token}".encode() in m]
    text = parse(request).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    quoted = "\n".join("> " + line for line in text.splitlines())

    # Ada's approval (she kept a copy of the token somehow) is refused; Cy's is obeyed
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], f"approve\n\n{quoted}\n"), ADA, addr[0])
    assert not of_kind(stack, OutboundKind.NOTICE)
    deliver(stack, service, member_mail(CY, addr[cases.TEAM], f"approve\n\n{quoted}\n"), CY, addr[0])
    assert len(of_kind(stack, OutboundKind.NOTICE)) == 1
    assert drafts_of(stack)[0].decided_by == "Cy Member"


def test_serve_has_a_worker_check_the_deadlines_through_the_broker(stack: Stack) -> None:
    """No `mailflow tick` here: the running service schedules the check itself, as a
    ``check_deadlines`` message on the configured broker (in process, Redis or RabbitMQ)."""
    settings = stack.settings(
        **AUTH, acknowledgement={"enabled": False}, notices={"acknowledgement_hours": 1 / 3600, "check_seconds": 0.2}
    )
    service = stack.start(settings)
    case, _addr = open_case(stack, service)

    def alerts() -> list[bytes]:
        return [m for m in delivered_to(stack, ADA) if "Acknowledgement overdue" in header(m, "Subject")]

    stack.wait_until(lambda: len(alerts()) == 1, timeout=30, what="the chair alerted by the scheduled check")
    time.sleep(1.0)  # five more checks run: none fires the same deadline again
    stack.wait_idle()
    assert len(alerts()) == 1
    assert "acknowledgement" in fired_on(stack, case)
