"""The manuals' process as the only path: decisions and votes, every promised date a deadline,
notices to each person separately, consent and mediation, and nothing the committee must know
left silent - end to end over real SMTP, with the clock moved by ``mailflow tick --now``.

The committee of these tests: Ada (chair), Bo and Cy (members). Jane reports; Eric is reported.
"""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select

from mailflow.case import service as cases
from mailflow.model import (
    Case,
    CaseState,
    Deadline,
    DiaryEntry,
    NoticeDraft,
    OutboundKind,
    OutboundMessage,
    Proposal,
)
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
    member_mail,
    of_kind,
    open_case,
    texts_to,
)
from tests.support.mail import header, parse, report
from tests.support.stack import Stack, write_config

ERIC = "eric@example.com"
KIM = "kim@example.net"
MO = "mo@example.org"
BOARD = "board@example.org"


class Committee:
    """One case of the tests, driven as the members drive it: from their mail clients."""

    def __init__(self, stack: Stack, **settings: object) -> None:
        self.stack = stack
        self.settings = stack.settings(**AUTH, notices={"board_address": BOARD}, **settings)  # type: ignore[arg-type]
        self.service: Service = stack.start(self.settings)
        self.case, self.addr = open_case(stack, self.service)
        self.config = write_config(stack.tmp / "mailflow.toml", self.settings)

    def says(self, member: str, body: str) -> str:
        """``member`` mails ``body`` to the internal address; returns the answer to their commands."""
        before = self._answers(member)
        deliver(self.stack, self.service, member_mail(member, self.addr[cases.TEAM], body), member, self.addr[0])
        return "\n".join(a for a in self._answers(member) if a not in before)

    def _answers(self, member: str) -> list[str]:
        return [
            parse(mail).get_body(("plain",)).get_content()  # type: ignore[union-attr]
            for mail in delivered_to(self.stack, member)
            if "Commands: " in header(mail, "Subject")
        ]

    def writes(self, sender: str, to: str, body: str, name: str = "Someone") -> int:
        """An outside person writes to a case address: returns the diary entry of their message."""
        deliver(self.stack, self.service, report("Re: your mail", body, sender=f"{name} <{sender}>", to=to), sender, to)
        return self.entry_from(sender)

    def entry_from(self, sender: str) -> int:
        with self.stack.session() as s:
            rows = s.execute(
                select(DiaryEntry.seq, DiaryEntry.from_addr)
                .where(DiaryEntry.case_id == self.case.id)
                .order_by(DiaryEntry.seq.desc())  # type: ignore[attr-defined]
            ).all()
        # from_addr is encrypted at rest when a key is configured: compared here, not in SQL
        return next(seq for seq, from_addr in rows if from_addr == sender)

    def tick(self, **delta: float) -> str:
        at = (self.case.created_at + timedelta(**delta)).isoformat()
        done = run(self.config, "tick", "--now", at)
        assert done.returncode == 0, done.stderr
        return done.stdout.decode()

    def state(self) -> Case:
        with self.stack.session() as s:
            found = s.get(Case, self.case.id)
            assert found is not None
            return found

    def drafts(self) -> list[NoticeDraft]:
        with self.stack.session() as s:
            return list(s.scalars(select(NoticeDraft).order_by(NoticeDraft.id)))

    def draft(self, body: str, member: str = BO) -> None:
        said = self.says(member, body)
        assert "waiting for a chair" in said or "one approval decides them all" in said, said

    def approve(self) -> str:
        """Ada approves the newest approval request, from the shell (as in test_notices, by mail)."""
        draft = self.drafts()[-1]
        done = run(self.config, "drafts", "approve", str(draft.id), "--as", "Ada Chair")
        return (done.stdout + done.stderr).decode()

    def notices(self) -> list[OutboundMessage]:
        return of_kind(self.stack, OutboundKind.NOTICE)

    def deadlines(self) -> dict[str, str]:
        with self.stack.session() as s:
            rows = s.scalars(select(Deadline).where(Deadline.case_id == self.case.id)).all()
            return {d.name: "fired" if d.fired_at else "met" if d.done_at else "pending" for d in rows}

    def subjects_to(self, address: str) -> list[str]:
        return [header(m, "Subject") for m in delivered_to(self.stack, address)]

    def reporter_address(self) -> str:
        return self.addr[cases.REPORTER_CONVERSATION]

    def adopt(self, resolution: str = "private-reprimand") -> None:
        """Bo proposes, Ada and Cy vote yes: adopted by consensus."""
        self.says(BO, f"/propose {resolution} a private reprimand, by mail from the chair\n")
        self.says(ADA, "/vote yes\n")
        self.says(CY, "/vote yes agreed\n")
        assert self.state().resolution == resolution

    def add_eric(self) -> None:
        self.says(ADA, f"/party reported Eric Example <{ERIC}>\n")


# -- the walk-arounds ------------------------------------------------------------------------------


def test_a_case_is_not_resolved_or_closed_by_saying_so(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)

    # When Bo sets the state to resolved, then to closed
    resolved = c.says(BO, "/state resolved\n")
    closed = c.says(BO, "/state closed\n")

    # Then both are refused, with the way that is open, and the case is as it was
    assert "REFUSED: /state resolved" in resolved and "/enact" in resolved
    assert "REFUSED: /state closed" in closed and "/close REASON" in closed
    assert c.state().state is CaseState.NEW

    # And /enact without an adopted resolution is refused; only a chair closes, with a reason
    assert "no resolution is adopted" in c.says(BO, "/enact\n")
    assert "only a chair" in c.says(BO, "/close duplicate of another case\n")
    assert "done: /close" in c.says(ADA, "/close duplicate of another case\n")
    assert c.state().state is CaseState.CLOSED
    assert "closed case" in texts_to(sqlite_stack, CY)


def test_resolution_notices_wait_for_the_vote_the_feedback_and_the_right_of_reply(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.add_eric()

    # A resolution notice before any decision: refused
    early = c.says(BO, "/draft reported/resolution-private-reprimand\nfacts: a message in the chat\n")
    assert "REFUSED" in early and "no resolution is adopted" in early
    assert "feedback request explains an adopted resolution" in c.says(BO, "/draft reporter/feedback-request\n")

    # The committee adopts a private reprimand
    c.adopt("private-reprimand")

    # Another resolution's notice is refused; its own waits for feedback and the right of reply
    other = c.says(BO, "/draft reported/resolution-permanent-ban\n")
    assert "its notice is reported/resolution-private-reprimand" in other
    waiting = c.says(BO, "/draft reported/resolution-private-reprimand\n\nThe message in the chat.\n")
    assert "REFUSED" in waiting and "no feedback request" in waiting
    assert not c.drafts()


def test_a_notice_goes_to_each_of_its_addressees_separately(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.add_eric()
    c.says(ADA, f"/party reporter Kim Second <{KIM}>\n/party mediator Mo Mediator <{MO}>\n")

    # When a mediation invitation (reporters, reported, mediator) is drafted
    said = c.says(BO, "/draft mediation/invitation\nmediator_name: Mo Mediator\n\nThe exchange in the review.\n")

    # Then there is one draft per addressee, one approval request showing each
    drafts = c.drafts()
    assert len(drafts) == 4 and len({d.group_id for d in drafts}) == 1 and "each addressee separately" in said
    assert all(len(d.recipients) == 1 for d in drafts)
    [request] = [m for m in delivered_to(sqlite_stack, ADA) if "Approval needed" in header(m, "Subject")]
    text = parse(request).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for address in (REPORTER, KIM, ERIC, MO):
        assert f"<{address}>" in text

    # When Ada approves, each goes as a mail of its own, in a conversation of its own, none held
    assert "4 notices approved and sent" in c.approve()
    notices = c.notices()
    assert sorted(n.recipients[0] for n in notices) == sorted([REPORTER, KIM, ERIC, MO])
    assert all(len(n.recipients) == 1 for n in notices)
    assert len({n.message_id for n in notices}) == 4 and len({n.conversation_id for n in notices}) == 4
    assert len(of_kind(sqlite_stack, OutboundKind.NOTICE, held=True)) == 4  # none held
    for address in (REPORTER, KIM, ERIC, MO):
        [mail] = [m for m in delivered_to(sqlite_stack, address) if "mediation" in header(m, "Subject").lower()]
        assert header(mail, "To").count("@") == 1


# -- decisions and votes ---------------------------------------------------------------------------


def test_consensus_adopts_and_the_tally_is_in_the_diary_and_cases_show(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)

    # Given Cy has a conflict: disclosed at once to Ada and Bo
    c.says(CY, "/conflict I know the reported person\n")
    assert any("Disclosure: Cy Member" in s for s in c.subjects_to(ADA))
    assert any("Disclosure: Cy Member" in s for s in c.subjects_to(BO))

    # When Bo proposes: Ada is asked to vote; Cy is not eligible and hears nothing of it
    said = c.says(BO, "/propose no-action the messages were a misunderstanding, resolved publicly\n")
    assert "your vote is yes" in said and "2 member(s) may vote" in said
    assert any("Vote: no-action" in s for s in c.subjects_to(ADA))
    assert not any("Vote:" in s for s in c.subjects_to(CY))
    c.says(CY, "/vote yes\n")  # excluded: no command of theirs on the case is obeyed
    assert c.state().resolution is None

    # And Ada votes yes: consensus
    c.says(ADA, "/vote yes it was resolved in the channel\n")
    case = c.state()
    assert case.state is CaseState.RESOLUTION_PROPOSED and case.resolution == "no-action"
    assert any("Decision: no-action (consensus)" in s for s in c.subjects_to(BO))

    # Then cases show gives the tally: who was eligible, who was not and why, who voted what
    shown = run(c.config, "cases", "show", case.ref).stdout.decode()
    assert "proposal 1: no-action" in shown and "(adopted)" in shown
    assert "eligible (2, not excluded from the case): Ada Chair, Bo Member" in shown
    assert "Ada Chair: yes (it was resolved in the channel)" in shown
    assert "resolution adopted: no-action, not yet enacted" in shown
    detail = json.loads(run(c.config, "cases", "show", case.ref, "--json").stdout)
    [proposed] = [e for e in detail["diary"] if e["detail"].get("note") == "proposal"]
    assert proposed["detail"]["eligible"] == ["Ada Chair", "Bo Member"]
    assert proposed["detail"]["excluded"] == ["Cy Member: conflict"]
    [decided] = [e for e in detail["diary"] if e["detail"].get("note") == "decision"]
    assert decided["detail"]["outcome"] == "consensus" and decided["detail"]["yes"] == ["Ada Chair", "Bo Member"]


def test_two_thirds_adopt_when_consensus_fails_and_too_many_noes_reject(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)

    # Two yes (Bo proposing, Ada) and one no of three: no consensus, but two thirds
    c.says(BO, "/propose public-reminder a reminder in the channel\n")
    c.says(CY, "/vote no too mild\n")
    assert c.state().resolution is None  # Ada has not voted: still open
    c.says(ADA, "/vote yes\n")
    assert c.state().resolution == "public-reminder"
    assert any("(two-thirds majority)" in s for s in c.subjects_to(CY))

    # Reopened, a new proposal two members oppose is rejected as soon as they have voted
    assert "no longer stands" in c.says(ADA, "/state investigating\n")
    c.says(BO, "/propose permanent-ban\n")
    c.says(ADA, "/vote no\n")
    said = c.says(CY, "/vote no\n")
    assert "is decided: rejected" in said
    with sqlite_stack.session() as s:
        states = [p.state for p in s.scalars(select(Proposal).order_by(Proposal.id))]
    assert states == ["adopted", "rejected"]
    assert c.state().resolution is None and c.state().state is CaseState.INVESTIGATING


def test_an_undecided_vote_goes_to_the_board_after_the_configured_days(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.says(BO, "/propose temporary-ban two weeks away from the chat\n")
    c.says(CY, "/vote abstain\n")

    # Before the days pass nothing happens; after, the vote closes and the board report is drafted
    assert "vote-1" not in c.tick(days=6)
    fired = c.tick(days=8)
    assert "vote-1" in fired
    [board] = [d for d in c.drafts() if d.notice == "board/report"]
    assert board.recipients == [{"name": "Board", "address": BOARD}]
    assert any("escalated to the board" in s for s in c.subjects_to(ADA))
    with sqlite_stack.session() as s:
        assert s.scalars(select(Proposal.state)).one() == "escalated"


# -- every promised date ---------------------------------------------------------------------------


def test_status_updates_recur_until_resolution_and_the_personal_reply_is_tracked(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)

    # A day later nobody wrote to Jane: the lead (the chair, none assigned) is reminded
    assert "personal-reply" in c.tick(hours=25)
    assert any("Personal reply to the reporter due" in s for s in c.subjects_to(ADA))

    # A status update every week until the case is resolved, never one per week missed
    assert "status-update-1" in c.tick(days=8)
    assert "status-update-2" in c.tick(days=15)
    assert "status-update-3" not in c.tick(days=15)
    assert c.deadlines()["status-update-3"] == "pending"
    c.says(ADA, "/close the reporter withdrew the report\n")
    assert "status-update-3" not in c.tick(days=30)


def test_the_personal_reply_met_in_time_fires_nothing(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    deliver(
        sqlite_stack, c.service, member_mail(BO, c.reporter_address(), "Thank you, Jane: we are on it.\n"),
        BO, c.reporter_address(),
    )  # fmt: skip
    assert "personal-reply" not in c.tick(hours=25)


def test_a_date_a_notice_promised_reminds_the_lead_with_who_has_not_answered(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.add_eric()
    c.says(ADA, "/lead Bo\n")
    assert any("You are the lead" in s for s in c.subjects_to(BO))

    # A right of reply promising an answer by a date, approved and sent
    said = c.says(
        BO, "/draft reported/right-of-reply\nreply_by: 2026-12-20\ncoc_section: Be respectful\n\nA message.\n"
    )
    assert "waiting for a chair" in said, said
    c.approve()
    assert c.deadlines()[f"reply_by-{c.drafts()[-1].id}"] == "pending"

    # The date passes with no answer: Bo (the lead) is told who has not answered
    fired = c.tick(days=60)
    assert "reply_by" in fired
    reminder = texts_to(sqlite_stack, BO)
    assert "no answer yet from: Eric Example" in reminder


def test_the_feedback_date_is_met_when_everyone_answered(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.adopt()
    c.says(BO, "/draft reporter/feedback-request\nfeedback_by: 2026-12-20\n\nA private reprimand.\n")
    c.approve()
    c.writes(REPORTER, c.reporter_address(), "That is fair.\n", name="Jane Reporter")
    assert "feedback_by" not in c.tick(days=60)


# -- urgent, unilateral ----------------------------------------------------------------------------


def test_an_urgent_case_alerts_every_eligible_member_and_shortens_its_deadlines(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.says(CY, "/recuse\n")

    said = c.says(BO, "/urgent threats of violence in the chat\n")
    assert "1 deadline(s) brought forward" in said  # the status update; the personal reply is due in 24 h
    assert any("URGENT: threats of violence" in s for s in c.subjects_to(ADA))
    assert any("URGENT" in s for s in c.subjects_to(BO))
    assert not any("URGENT" in s for s in c.subjects_to(CY))  # recused: nothing of the case reaches them

    # The first status update is due within a day, not a week
    assert "status-update-1" in c.tick(hours=25)


def test_a_unilateral_action_is_disclosed_at_once_and_its_report_is_due_in_24_hours(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.says(BO, "/unilateral removed Eric from the chat for an hour\n")
    assert any("Unilateral action by Bo Member" in s for s in c.subjects_to(ADA))
    assert "removed Eric from the chat" in texts_to(sqlite_stack, CY)

    # No report within 24 hours: Bo and the chair are alerted
    assert "unilateral" not in c.tick(hours=12)
    assert "unilateral" in c.tick(hours=25)
    assert any("Unilateral action not reported" in s for s in c.subjects_to(ADA))
    assert any("Unilateral action not reported" in s for s in c.subjects_to(BO))


def test_a_reported_unilateral_action_fires_nothing(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.says(BO, "/unilateral removed Eric from the chat for an hour\n")
    assert "REFUSED" in c.says(CY, "/report nothing to report\n")  # Cy took no action
    assert "went to the committee" in c.says(BO, "/report he kept posting threats; removed until we decide\n")
    assert any("Report of a unilateral action" in s for s in c.subjects_to(CY))
    assert "unilateral" not in c.tick(hours=25)


# -- consent and mediation -------------------------------------------------------------------------


def test_an_apology_request_needs_the_reporters_agreement(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.add_eric()
    refused = c.says(BO, "/propose apology-request a public apology in the channel\n")
    assert "only if the reporter agrees" in refused and "Jane Reporter" in refused

    # Jane agrees in her own words; a member records it against her message, not anyone else's
    entry = c.writes(REPORTER, c.reporter_address(), "Yes, an apology would help.\n", name="Jane Reporter")
    assert "REFUSED" in c.says(BO, f"/agree Eric Example apology {entry}\n")  # a reported person has no say here
    assert "is recorded" in c.says(BO, f"/agree Jane Reporter apology {entry}\n")
    assert "proposal 1: apology-request" in c.says(BO, "/propose apology-request a public apology\n")


def test_mediation_starts_when_everyone_agreed_and_the_committee_decides_after_the_vetted_report(
    sqlite_stack: Stack,
) -> None:
    c = Committee(sqlite_stack)
    c.add_eric()
    c.says(ADA, f"/party mediator Mo Mediator <{MO}>\n")
    c.says(BO, "/draft mediation/invitation\nmediator_name: Mo Mediator\n\nThe exchange in the review.\n")
    c.approve()
    conversation = {n.recipients[0]: n for n in c.notices()}
    eric_address = header(
        next(m for m in delivered_to(sqlite_stack, ERIC) if "mediation" in header(m, "Subject").lower()), "Reply-To"
    )
    mo_address = header(
        next(m for m in delivered_to(sqlite_stack, MO) if "mediation" in header(m, "Subject").lower()), "Reply-To"
    )
    assert set(conversation) == {REPORTER, ERIC, MO}

    # Not before everyone agreed
    jane_yes = c.writes(REPORTER, c.reporter_address(), "I agree to mediation with Mo.\n", name="Jane Reporter")
    c.says(BO, f"/agree Jane Reporter mediation {jane_yes}\n")
    refused = c.says(BO, "/mediation start\n")
    assert "not yet agreed: Eric Example" in refused
    eric_yes = c.writes(ERIC, eric_address, "Fine, I agree to Mo mediating.\n", name="Eric Example")
    assert "every party agreed" in c.says(BO, f"/agree Eric Example mediation {eric_yes}\n")
    assert "mediation started" in c.says(BO, "/mediation start\n")
    assert any(name.startswith("mediation-") for name in c.deadlines())

    # The committee decides only after the mediator's report, vetted by every party
    assert "mediation is under way" in c.says(BO, "/propose no-action\n")
    report_entry = c.writes(MO, mo_address, "Both agreed to keep reviews about the code.\n", name="Mo Mediator")
    assert "each party now vets it" in c.says(BO, f"/mediation report {report_entry}\n")
    assert "not yet vetted by Jane Reporter, Eric Example" in c.says(BO, "/propose no-action\n")
    jane_ok = c.writes(REPORTER, c.reporter_address(), "The report is accurate.\n", name="Jane Reporter")
    eric_ok = c.writes(ERIC, eric_address, "Accurate.\n", name="Eric Example")
    c.says(BO, f"/agree Jane Reporter report {jane_ok}\n")
    assert "the committee can decide" in c.says(BO, f"/agree Eric Example report {eric_ok}\n")
    assert "proposal 1: no-action" in c.says(BO, "/propose no-action settled in mediation\n")


def test_a_party_who_asked_for_no_contact_gets_no_more_mail(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    entry = c.writes(REPORTER, c.reporter_address(), "Please do not write to me again.\n", name="Jane Reporter")
    assert "held from now on" in c.says(ADA, f"/no-contact Jane Reporter {entry}\n")

    # A member's mail to her conversation is held, and a notice to her is not even drafted
    deliver(
        sqlite_stack, c.service, member_mail(BO, c.reporter_address(), "One more question, Jane.\n"),
        BO, c.reporter_address(),
    )  # fmt: skip
    relays = of_kind(sqlite_stack, OutboundKind.RELAY, held=True)
    assert relays and all(r.state.value == "held" for r in relays)
    assert "no further contact" in texts_to(sqlite_stack, BO)
    assert "asked for no further contact" in c.says(BO, "/draft reporter/request-for-information\n\nWhen?\n")


# -- members see what they need, by mail -----------------------------------------------------------


def test_show_and_cases_answer_by_mail(sqlite_stack: Stack) -> None:
    c = Committee(sqlite_stack)
    c.says(ADA, "/lead Bo\n/impact 4\n")
    shown = c.says(BO, "/show\n")
    assert f"Case {c.case.ref} (new)" in shown and "committee: Bo Member: lead" in shown
    assert "deadline status-update-1: due" in shown and "Diary (" in shown and "#1 " in shown
    c.tick(days=8)
    listed = c.says(BO, "/cases\n")
    assert f"{c.case.ref} (new, you are lead)" in listed
    assert "missed: personal-reply" in listed or "status-update-1" in listed


# -- nothing silent --------------------------------------------------------------------------------


def test_held_mail_and_passed_deadlines_reach_the_chair_in_a_digest_and_status_counts_them(
    sqlite_stack: Stack,
) -> None:
    c = Committee(sqlite_stack, acknowledgement={"enabled": False})

    # A relay the gate holds (it names the committee's internal address), and a deadline that passes
    leaky = f"Hello Jane, the committee discusses it at {c.addr[cases.TEAM]}\n"
    deliver(sqlite_stack, c.service, member_mail(BO, c.reporter_address(), leaky), BO, c.reporter_address())
    status = json.loads(run(c.config, "status", "--json").stdout)
    assert status["alerts_waiting"].get("held") == 1

    c.tick(hours=25)
    subjects = c.subjects_to(ADA)
    assert any("Mail the policy gate held (1)" in s for s in subjects)
    assert any("Deadlines that passed" in s for s in subjects)
    # at most one digest per kind a day
    c.tick(hours=26)
    assert sum("Deadlines that passed" in s for s in c.subjects_to(ADA)) == 1


# -- a whole case ----------------------------------------------------------------------------------


def test_a_case_from_report_to_enacted_resolution(ends_stack: Stack) -> None:
    """Every step the manuals ask for, in order, on SQLite and on Postgres + Redis: nothing held,
    nothing sent before its time, and a tick long after finds nothing left undone."""
    c = Committee(ends_stack)
    stack = c.stack

    # Jane's report is acknowledged at once; Ada makes Bo the lead; Eric is the reported person
    assert [n.recipients for n in of_kind(stack, OutboundKind.ACKNOWLEDGEMENT)] == [[REPORTER]]
    c.says(ADA, f"/lead Bo\n/party reported Eric Example <{ERIC}>\n/impact 3\n/likelihood 2\n")

    # Bo writes to Jane personally (the acknowledgement promised it), and asks for more information
    deliver(stack, c.service, member_mail(BO, c.reporter_address(), "Thank you, Jane.\n"), BO, c.reporter_address())
    c.says(BO, "/draft reporter/request-for-information\n\nWhen did it start?\n")
    assert "approved and sent" in c.approve()
    c.writes(REPORTER, c.reporter_address(), "It started on Monday.\n", name="Jane Reporter")

    # A week on, no resolution: the status update drafted by the deadline is completed and approved
    assert "status-update-1" in c.tick(days=8)
    [update] = [d for d in c.drafts() if d.notice == "reporter/status-update"]
    assert "the text completed" in c.approve()  # its placeholders cannot go out as they are
    completed = update.text.replace("[to be completed before approval]", "We have read everything you sent.")
    (stack.tmp / "update.txt").write_text(completed)
    args = ("drafts", "approve", str(update.id), "--as", "Ada Chair", "--text-file", str(stack.tmp / "update.txt"))
    done = run(c.config, *args)
    assert done.returncode == 0, done.stdout + done.stderr

    # Eric is offered a right of reply and answers
    c.says(BO, "/draft reported/right-of-reply\ncoc_section: Be respectful\n\nA message in the chat.\n")
    assert "approved and sent" in c.approve()
    [to_eric] = delivered_to(stack, ERIC)
    c.writes(ERIC, header(to_eric, "Reply-To"), "I did not mean it that way.\n", name="Eric Example")

    # The committee decides: Bo proposes a private reprimand, Ada and Cy agree
    c.adopt("private-reprimand")
    assert "no feedback request" in c.says(BO, "/enact\n")

    # Jane's feedback is asked for and given; then the reprimand goes to Eric and it is enacted
    said = c.says(BO, "/draft reporter/feedback-request\n\nA private reprimand from the committee.\n")
    assert "waiting for a chair" in said, said
    assert "approved and sent" in c.approve()
    c.writes(REPORTER, c.reporter_address(), "That seems fair.\n", name="Jane Reporter")
    values = "coc_section: Be respectful\nimpact: It hurt people.\nexpectation: Keep reviews about the code.\n"
    said = c.says(BO, f"/draft reported/resolution-private-reprimand\n{values}\nThe message in the chat.\n")
    assert "waiting for a chair" in said, said
    assert "approved and sent" in c.approve()
    assert "is enacted" in c.says(BO, "/enact\n")
    case = c.state()
    assert case.state is CaseState.RESOLVED and case.enacted_at is not None and case.resolution == "private-reprimand"

    # Jane hears the outcome, the board gets its report, and the chair closes the case
    c.draft("/draft reporter/resolution\nfollow_up: Nothing more is needed from you.\n\nA private reprimand.\n")
    assert "approved and sent" in c.approve()
    c.draft("/draft board/report\nkind: report\nsummary: A message in the chat.\n\nA private reprimand.\n")
    assert "approved and sent" in c.approve()
    assert "the case is closed" in c.says(ADA, "/close enacted and reported to the board\n")

    # Nothing was held; every notice went to one person; a tick long after has nothing to do
    assert not [o for o in stack.outbound() if o.state.value == "held"]
    assert all(len(n.recipients) == 1 for n in c.notices()) and len(c.notices()) == 7
    assert "0 deadline(s) fired" in c.tick(days=90)
    shown = run(c.config, "cases", "show", case.ref).stdout.decode()
    assert "diary chain: intact" in shown and "(closed)" in shown
