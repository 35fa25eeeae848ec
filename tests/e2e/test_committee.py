"""The committee works from its own mail clients: fan-out, internal replies, commands, relay through
the policy gate, and forged members - end to end over real SMTP against the running service."""

from __future__ import annotations

import dkim
import pytest
from sqlalchemy import select

from mailflow.case import service as cases
from mailflow.model import (
    Case,
    CaseMember,
    Conversation,
    DiaryEntry,
    DiaryKind,
    OutboundKind,
    Party,
    PartyRole,
)
from tests.support.committee import (
    ADA,
    AUTH,
    BO,
    CY,
    REPORTER,
    addresses,
    deliver,
    delivered_to,
    diary,
    member_mail,
    of_kind,
    open_case,
    texts_to,
)
from tests.support.dkim import new_dkim_key
from tests.support.mail import header, parse, report
from tests.support.stack import CONDUCT, Stack

# -- fan-out ---------------------------------------------------------------------------------------


def test_a_report_reaches_every_member_with_the_two_case_addresses(stack: Stack) -> None:
    # Given the service with a three-member committee (on every database and broker)
    service = stack.start(stack.settings(**AUTH))

    # When a reporter writes
    case, addr = open_case(stack, service)

    # Then the reporter is acknowledged and the committee gets one copy, from the conduct address
    [ack] = of_kind(stack, OutboundKind.ACKNOWLEDGEMENT)
    [copy] = of_kind(stack, OutboundKind.FANOUT)
    assert ack.recipients == [REPORTER]
    assert sorted(copy.recipients) == sorted([ADA, BO, CY])
    [mail] = delivered_to(stack, BO)
    assert CONDUCT in header(mail, "From")
    assert addr[cases.TEAM] in header(mail, "Reply-To")
    assert f"[conduct #{case.ref}]" in header(mail, "Subject")
    text = parse(mail).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "repeated private messages" in text
    assert addr[cases.TEAM] in text and addr[cases.REPORTER_CONVERSATION] in text
    assert f"From: Jane Reporter <{REPORTER}>" in text


def test_a_plain_member_reply_stays_inside_the_committee(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)

    # When Ada replies to the fan-out (to the internal address)
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], "I think we should ask for details.\n"), ADA, addr[0])

    # Then Bo and Cy get it, Ada does not, and nothing goes to the reporter but the acknowledgement
    internal = of_kind(stack, OutboundKind.FANOUT)[-1]
    assert sorted(internal.recipients) == sorted([BO, CY])
    assert [o.kind for o in stack.outbound() if REPORTER in o.recipients] == [OutboundKind.ACKNOWLEDGEMENT]
    assert diary(stack, case)[-2].new_text and "ask for details" in (diary(stack, case)[-2].new_text or "")


def test_a_conflicted_member_receives_nothing_more_of_the_case(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)

    # When Bo declares a conflict by mail
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], "/conflict\n"), BO, addr[0])

    # Then it is recorded as Bo's command, Bo is told, and the reporter's next mail skips Bo
    with stack.session() as s:
        [standing] = s.scalars(select(CaseMember).where(CaseMember.case_id == case.id)).all()
    assert (standing.member, standing.excluded, standing.reason) == ("Bo Member", True, "conflict")
    command = next(e for e in diary(stack, case) if e.kind is DiaryKind.COMMAND)
    assert command.actor == "Bo Member" and command.detail["ok"] is True
    reply = report("Re: more", "Also, it happened again today.\n", sender=f"Jane <{REPORTER}>")
    deliver(stack, service, reply, REPORTER, addr[cases.REPORTER_CONVERSATION])
    latest = of_kind(stack, OutboundKind.FANOUT)[-1]
    assert sorted(latest.recipients) == sorted([ADA, CY])

    # And Bo's later mail to the case is refused (no relay, no command)
    deliver(stack, service, member_mail(BO, addr[1], "Hello Jane\n"), BO, addr[1])
    assert not of_kind(stack, OutboundKind.RELAY)


def test_a_member_named_in_a_report_is_kept_out_until_a_chair_clears_them(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))

    # When a report names Cy (a committee member) in its text
    case, addr = open_case(stack, service, body="Cy Member shouted at me during the meetup.\n")

    # Then Cy does not get the report
    [copy] = of_kind(stack, OutboundKind.FANOUT)
    assert sorted(copy.recipients) == sorted([ADA, BO])

    # And a non-chair cannot clear them, but the chair can
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], "/clear Cy\n"), BO, addr[0])
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], "/clear Cy Member\n\nNot a party.\n"), ADA, addr[0])
    refused, cleared = [e for e in diary(stack, case) if e.kind is DiaryKind.COMMAND]
    assert refused.detail["ok"] is False and cleared.detail["ok"] is True
    assert sorted(of_kind(stack, OutboundKind.FANOUT)[-1].recipients) == sorted([BO, CY])


def test_commands_by_mail_are_obeyed_recorded_and_answered(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)
    body = (
        "/lead Ada Chair\n/secondary bo@committee.example\n/party reported Eric Example <eric@example.com> aka @eric\n"
        "/impact 4\n/likelihood 3\n/state investigating\n/frobnicate now\n\nPlan: talk to Eric first.\n"
    )
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], body), ADA, addr[0])

    with stack.session() as s:
        stored = s.get(Case, case.id)
        members = {m.member: m.assignment for m in s.scalars(select(CaseMember).where(CaseMember.case_id == case.id))}
        parties = s.scalars(select(Party).where(Party.case_id == case.id, Party.role == PartyRole.REPORTED)).all()
    assert stored is not None and (stored.impact, stored.likelihood, stored.state.value) == (4, 3, "investigating")
    assert members == {"Ada Chair": "lead", "Bo Member": "secondary"}
    assert [(p.name, p.address, p.aliases) for p in parties] == [("Eric Example", "eric@example.com", ["@eric"])]
    commands = [e for e in diary(stack, case) if e.kind is DiaryKind.COMMAND]
    assert [e.detail["ok"] for e in commands] == [True] * 6 + [False]
    assert all(e.actor == "Ada Chair" for e in commands)
    [answer] = [o for o in of_kind(stack, OutboundKind.SYSTEM) if o.recipients == [ADA]]
    text = texts_to(stack, ADA)
    assert "REFUSED: /frobnicate now" in text and "/lead NAME" in text  # unknown: answered with help
    assert answer.case_id == case.id
    # the rest of the mail is an internal note for the others
    assert "talk to Eric first" in texts_to(stack, BO)


# -- relay -----------------------------------------------------------------------------------------


def test_a_member_writes_to_the_reporter_through_the_conversation_address(stack: Stack) -> None:
    service = stack.start(stack.settings(**AUTH))
    _case, addr = open_case(stack, service)

    # When Ada writes to the reporter conversation's address
    raw = member_mail(ADA, addr[cases.REPORTER_CONVERSATION], "Dear Jane,\n\nCould you tell us when it started?\n")
    deliver(stack, service, raw, ADA, addr[1])

    # Then the reporter gets it in the committee's name, with Reply-To the conversation
    [relayed] = of_kind(stack, OutboundKind.RELAY)
    assert relayed.recipients == [REPORTER]
    mail = next(m for m in delivered_to(stack, REPORTER) if "tell us when" in m.decode())
    assert CONDUCT in header(mail, "From") and ADA not in mail.decode()
    assert addr[cases.REPORTER_CONVERSATION] in header(mail, "Reply-To")
    assert addr[cases.TEAM] not in mail.decode()  # the internal address never leaves

    # And her answer comes back into the same conversation and reaches the committee
    answer = report(
        "Re: " + header(mail, "Subject"),
        "It started in June.\n",
        sender=f"Jane <{REPORTER}>",
        headers={"In-Reply-To": header(mail, "Message-ID")},
    )
    deliver(stack, service, answer, REPORTER, CONDUCT)
    assert len(stack.cases()) == 1
    assert "It started in June" in texts_to(stack, BO)


def test_markers_start_a_separate_conversation_with_the_reported_person(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)

    # When Ada writes to the team address with a [+ ...] line
    body = "[+ Eric Example <eric@example.com>]\n\nHello Eric,\n\nwe received a report about the meetup.\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], body), ADA, addr[0])

    # Then a new conversation with its own address carries it to Eric, markers on top
    addr = addresses(stack, case)
    assert set(addr) == {0, 1, 2}
    [relayed] = of_kind(stack, OutboundKind.RELAY)
    assert relayed.recipients == ["eric@example.com"]
    [mail] = delivered_to(stack, "eric@example.com")
    assert addr[2] in header(mail, "Reply-To")
    assert parse(mail).get_body(("plain",)).get_content().startswith("[+ Eric Example")  # type: ignore[union-attr]

    # And Eric's reply lands in his conversation, not the reporter's
    reply = report("Re: x", "That is not what happened.\n", sender="Eric <eric@example.com>")
    deliver(stack, service, reply, "eric@example.com", addr[2])
    with stack.session() as s:
        last = s.scalars(
            select(DiaryEntry).where(DiaryEntry.case_id == case.id, DiaryEntry.inbound_id.is_not(None))  # type: ignore[union-attr]
        ).all()[-1]
        conv2 = s.scalars(select(Conversation).where(Conversation.case_id == case.id, Conversation.number == 2)).one()
    assert last.detail["conversation"] == conv2.id


def test_adding_a_recipient_without_a_marker_is_held(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)
    body = "[+ Eric Example <eric@example.com>]\n\nHello Eric.\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], body), ADA, addr[0])
    addr = addresses(stack, case)

    # When a member removes Eric's recipient marker-less: a "[- Someone]" that matches no change
    deliver(stack, service, member_mail(ADA, addr[2], "[- Nobody Here]\n\nFollow-up.\n"), ADA, addr[2])

    # Then nothing more reaches Eric and Ada is told why
    assert len(delivered_to(stack, "eric@example.com")) == 1
    held = [e for e in diary(stack, case) if e.kind is DiaryKind.HELD]
    assert len(held) == 1 and "recipient-markers" in held[0].detail["rules"]
    assert "[- Nobody Here]" in texts_to(stack, ADA)


LEAKS = {
    "name in the body": "Hello Eric,\n\nJane Reporter told us about the meetup.\n",
    "address in the body": "Hello Eric,\n\nsomeone (jane@example.net) wrote to us.\n",
    "obfuscated address": "Hello Eric,\n\nwrite to jane at example dot net if you want.\n",
    "quoted report": (
        "Hello Eric,\n\nwe were told:\n> On Tuesday a participant sent me repeated private messages after I asked"
        " them to stop.\n"
    ),
}


@pytest.mark.parametrize("variant", list(LEAKS))
def test_the_reporter_is_protected_until_they_give_written_permission(sqlite_stack: Stack, variant: str) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)
    start = "[+ Eric Example <eric@example.com>]\n\nHello Eric, we would like to talk to you.\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], start), ADA, addr[0])
    addr = addresses(stack, case)

    # When a member's mail to the reported person discloses the reporter
    deliver(stack, service, member_mail(ADA, addr[2], LEAKS[variant]), ADA, addr[2])

    # Then it is held: Eric gets nothing but the first mail, and Ada gets the offending text
    assert len(delivered_to(stack, "eric@example.com")) == 1
    [held] = [e for e in diary(stack, case) if e.kind is DiaryKind.HELD]
    assert "reporter-protection" in held.detail["rules"]
    explanation = texts_to(stack, ADA)
    assert "reporter #1" in explanation and "permission" in explanation

    # When Jane writes that she agrees, and the chair records it against that diary entry
    consent = report("Re: permission", "You may tell Eric that it was me.\n", sender=f"Jane <{REPORTER}>")
    deliver(stack, service, consent, REPORTER, addr[cases.REPORTER_CONVERSATION])
    seq = next(e.seq for e in reversed(diary(stack, case)) if e.from_addr == REPORTER)
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], f"/permission {REPORTER} {seq}\n"), ADA, addr[0])

    # Then the same mail now goes through
    deliver(stack, service, member_mail(ADA, addr[2], LEAKS[variant]), ADA, addr[2])
    assert len(delivered_to(stack, "eric@example.com")) == 2


# -- forged members --------------------------------------------------------------------------------

SPOOFS = {
    "no authentication": dict(auth=None),
    "untrusted authserv-id": dict(auth="untrusted"),
    "A-R header below Received": dict(auth="below"),
}


@pytest.mark.parametrize("spoof", list(SPOOFS))
def test_a_forged_member_gets_nothing_relayed_and_no_command_obeyed(sqlite_stack: Stack, spoof: str) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)
    before = len(stack.outbound())

    # When mail claiming to be Ada arrives without believable authentication
    body = "/state closed\n/recuse Bo Member\n\nHello Jane, please tell us everything again.\n"
    raw = member_mail(ADA, addr[cases.REPORTER_CONVERSATION], body, **SPOOFS[spoof])
    deliver(stack, service, raw, ADA, addr[1])

    # Then nothing reaches the reporter, no command is obeyed, the sender gets nothing back
    assert not of_kind(stack, OutboundKind.RELAY)
    assert not [e for e in diary(stack, case) if e.kind is DiaryKind.COMMAND]
    new = stack.outbound()[before:]
    assert all(REPORTER not in o.recipients for o in new)
    assert all(o.recipients != [ADA] for o in new)
    # And the chair is told (Ada is the only chair and the claimed sender: the members see it flagged)
    assert any("UNVERIFIED" in m.decode() for m in delivered_to(stack, BO))
    note = [e for e in diary(stack, case) if e.kind is DiaryKind.NOTE and "unverified" in e.detail]
    assert len(note) == 1


def test_a_display_name_or_look_alike_domain_is_just_an_outsider(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)
    for forged in ("ada@evil.example", "ada@committee-example.com"):
        raw = member_mail(forged, addr[cases.TEAM], "/state closed\n", name="Ada Chair")
        deliver(stack, service, raw, forged, addr[0])
    with stack.session() as s:
        stored = s.get(Case, case.id)
    assert stored is not None and stored.state.value == "new"
    assert not [e for e in diary(stack, case) if e.kind is DiaryKind.COMMAND]
    assert not of_kind(stack, OutboundKind.RELAY)


# -- forwarded reports -----------------------------------------------------------------------------


def test_a_member_forwarding_a_report_opens_a_case_for_the_original_sender(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    body = (
        "Forwarding this, it came to me directly.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Kim Witness <kim@example.org>\n"
        "Date: Mon, 2 Nov 2026 at 18:00\n"
        "Subject: Something happened at the sprint\n"
        "To: Bo Member <bo@committee.example>\n\n"
        "Someone kept interrupting and mocking the new contributors.\n"
    )

    # When Bo forwards it to the conduct address
    deliver(stack, service, member_mail(BO, CONDUCT, body, subject="Fwd: Something happened"), BO, CONDUCT)

    # Then a case opens with Kim as reporter, Bo is not taken for a party, and no one is acknowledged
    [case] = stack.cases()
    with stack.session() as s:
        [reporter] = s.scalars(select(Party).where(Party.case_id == case.id)).all()
    assert (reporter.role, reporter.address) == (PartyRole.REPORTER, "kim@example.org")
    assert not of_kind(stack, OutboundKind.ACKNOWLEDGEMENT)
    [copy] = of_kind(stack, OutboundKind.FANOUT)
    assert sorted(copy.recipients) == sorted([ADA, CY])  # the forwarder has it already
    assert "report forwarded by Bo Member" in texts_to(stack, ADA)


def test_an_unauthenticated_forward_is_just_a_report_from_its_sender(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    body = "---------- Forwarded message ---------\nFrom: Kim <kim@example.org>\n\nHello\n"
    deliver(stack, service, member_mail(BO, CONDUCT, body, auth=None), BO, CONDUCT)
    [case] = stack.cases()
    with stack.session() as s:
        [reporter] = s.scalars(select(Party).where(Party.case_id == case.id)).all()
    assert reporter.address == BO


def test_a_relay_quoting_committee_mail_is_held_for_the_internal_address(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)
    quoted = "\n".join("> " + line for line in texts_to(stack, BO).splitlines())

    # When Ada answers the reporter by replying to the committee copy, quoting it whole
    body = f"Dear Jane, thank you.\n\nOn Tuesday the committee wrote:\n{quoted}\n"
    deliver(stack, service, member_mail(ADA, addr[cases.REPORTER_CONVERSATION], body), ADA, addr[1])

    # Then nothing reaches Jane but her acknowledgement: the quote carries the internal address
    assert len(delivered_to(stack, REPORTER)) == 1
    [held] = [e for e in diary(stack, case) if e.kind is DiaryKind.HELD]
    assert "committee-only" in held.detail["rules"]
    assert addr[cases.TEAM] in texts_to(stack, ADA)


# -- DKIM, verified by the service itself ----------------------------------------------------------


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """(private key PEM, the TXT record publishing it) for selector "sel" of committee.example."""
    return new_dkim_key(tmp_path_factory.mktemp("dkim"))


@pytest.mark.parametrize("tampered", [False, True], ids=["signed", "body tampered after signing"])
def test_dkim_signed_member_mail_is_relayed_and_a_tampered_one_is_not(
    sqlite_stack: Stack, dkim_key: tuple[bytes, bytes], tampered: bool
) -> None:
    stack = sqlite_stack
    private, txt = dkim_key
    records = {b"sel._domainkey.committee.example.": txt}
    settings = stack.settings(authentication={"trusted_authserv_ids": [], "verify_dkim": True})
    service = stack.start(settings, dnsfunc=records.get)
    case, addr = open_case(stack, service)

    body = "Dear Jane,\n\nthank you, we are on it.\n"
    raw = member_mail(ADA, addr[cases.REPORTER_CONVERSATION], body, auth=None)
    head, _, rest = raw.partition(b"\r\nFrom: ")
    unsigned = b"From: " + rest
    signature = dkim.sign(unsigned, b"sel", b"committee.example", private, include_headers=[b"from", b"to", b"subject"])
    signed = head + b"\r\n" + signature + unsigned
    if tampered:
        signed = signed.replace(b"we are on it", b"send us her phone number")
    deliver(stack, service, signed, ADA, addr[1])

    relayed = of_kind(stack, OutboundKind.RELAY)
    if tampered:
        assert not relayed
        assert any(e.kind is DiaryKind.NOTE and "unverified" in e.detail for e in diary(stack, case))
    else:
        assert [o.recipients for o in relayed] == [[REPORTER]]
