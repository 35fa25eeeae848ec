"""What the committee writes for itself never reaches a party; no report goes unheard; hidden
parts of documents are read. Each defect seen from outside, end to end over real SMTP."""

from __future__ import annotations

import quopri
from collections.abc import Callable

import pytest
from sqlalchemy import select

from mailflow.case import service as cases
from mailflow.model import Alert, AlertKind, Case, Conversation, DiaryKind, NoticeDraft, OutboundKind, Party, PartyRole
from mailflow.service import Service
from tests.support import documents
from tests.support.committee import (
    ADA,
    AUTH,
    BO,
    CY,
    addresses,
    deliver,
    delivered_to,
    diary,
    member_mail,
    of_kind,
    open_case,
    texts_to,
)
from tests.support.mail import header, parse, report
from tests.support.stack import CONDUCT, Stack

ALICE = "alice.liddell@example.net"
ERIC = "eric@example.com"
WITNESS = "wanda.witness@example.org"


def alice_case(stack: Stack, service: Service) -> tuple[Case, dict[int, str]]:
    case, addr = open_case(stack, service, sender=f"Alice Liddell <{ALICE}>")
    start = "[+ Eric Example <eric@example.com>]\n\nHello Eric, we would like to talk to you.\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], start), ADA, addr[cases.TEAM])
    return case, addresses(stack, case)


def bodies_to(stack: Stack, address: str) -> list[str]:
    return [parse(m).get_body(("plain",)).get_content() for m in delivered_to(stack, address)]  # type: ignore[union-attr]


# -- commands and notes stay inside ----------------------------------------------------------------


def test_commands_and_a_note_at_the_top_of_a_mail_to_the_reporter_never_reach_her(stack: Stack) -> None:
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)

    # When Bo writes to Alice's conversation, starting with a command and an internal note
    body = (
        "/state investigating\n/note Bo thinks the reporter exaggerates; Eric had a warning in 2024\n\n"
        "Dear Alice, thank you, we are looking into it.\n"
    )
    deliver(stack, service, member_mail(BO, addr[cases.REPORTER_CONVERSATION], body), BO, addr[1])

    # Then Alice receives only the letter: no command line, no note
    [relayed] = [b for b in bodies_to(stack, ALICE) if "looking into it" in b]
    assert "/state" not in relayed and "exaggerates" not in relayed and "warning in 2024" not in relayed
    assert relayed.lstrip().startswith("Dear Alice")

    # And the commands were obeyed and recorded (the note in the diary, only), their results mailed to Bo
    with stack.session() as s:
        assert s.get(Case, case.id).state.value == "investigating"  # type: ignore[union-attr]
    commands = [e.detail["command"] for e in diary(stack, case) if e.kind is DiaryKind.COMMAND]
    assert commands == ["/state investigating", "/note Bo thinks the reporter exaggerates; Eric had a warning in 2024"]
    assert "done: /note" in texts_to(stack, BO)


def test_a_later_mail_quoting_the_note_to_a_party_is_held(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)
    note = "/note Bo thinks the reporter exaggerates about the sprint badge incident\n"
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], note), BO, addr[cases.TEAM])

    # When a member quotes the note to Eric
    quoting = "Hello Eric,\n\nBo thinks the reporter exaggerates about the sprint badge incident.\n"
    deliver(stack, service, member_mail(CY, addr[2], quoting), CY, addr[2])

    # Then it is held as committee-only
    assert len(delivered_to(stack, ERIC)) == 1
    held = [e for e in diary(stack, case) if e.kind is DiaryKind.HELD]
    assert "committee-only" in held[-1].detail["rules"]


def test_a_chairs_approval_with_a_partys_conversation_in_to_stays_inside(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    _, addr = alice_case(stack, service)
    draft = "/draft reporter/status-update\nstatus: We spoke with two witnesses.\n\nA decision by 10 December.\n"
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], draft), BO, addr[cases.TEAM])
    with stack.session() as s:
        [notice] = s.scalars(select(NoticeDraft)).all()

    # When Ada approves with Eric's conversation in To and the internal address in Cc
    approval = member_mail(
        ADA, addr[2], f"approve\n\n> Approval token: {notice.token}\n", headers={"Cc": addr[cases.TEAM]}
    )
    deliver(stack, service, approval, ADA, addr[2])

    # Then Eric receives nothing of it, the approval is obeyed, and Ada is told it stayed inside
    assert all(notice.token not in m.decode() for m in delivered_to(stack, ERIC))
    assert len(delivered_to(stack, ERIC)) == 1
    assert [o.recipients for o in of_kind(stack, OutboundKind.NOTICE)] == [[ALICE]]
    assert "stayed inside the committee" in texts_to(stack, ADA)


# -- every report is heard ---------------------------------------------------------------------------


def test_a_report_from_a_form_opens_a_case_and_the_committee_confirms_the_reporter(stack: Stack) -> None:
    service = stack.start(stack.settings(**AUTH))

    # When a conference's form mails conduct@ from a no-reply sender, auto-generated, Reply-To the witness
    form = report(
        "Code of conduct report #48",
        "Reporter: Wanda Witness\nWhat happened: a speaker made demeaning jokes during the keynote.\n",
        sender="Conference Forms <no-reply@forms.example.org>",
        headers={"Auto-Submitted": "auto-generated", "Reply-To": f"Wanda Witness <{WITNESS}>"},
    )
    deliver(stack, service, form, "no-reply@forms.example.org", CONDUCT)

    # Then a case is open, nobody is acknowledged, and every member hears of it with the Reply-To named
    [case] = stack.cases()
    assert not of_kind(stack, OutboundKind.ACKNOWLEDGEMENT)
    assert not delivered_to(stack, WITNESS)
    copy = texts_to(stack, BO)
    assert "automatic sender" in copy and WITNESS in copy and "/party reporter" in copy

    # When Ada confirms the reporter, and then writes to the reporter's conversation
    addr = addresses(stack, case)
    confirm = f"/party reporter Wanda Witness <{WITNESS}>\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], confirm), ADA, addr[cases.TEAM])
    letter = member_mail(ADA, addr[1], "Dear Wanda, thank you for your report.\n")
    deliver(stack, service, letter, ADA, addr[cases.REPORTER_CONVERSATION])

    # Then the letter goes to her
    assert any("thank you for your report" in b for b in bodies_to(stack, WITNESS))


def test_a_bounce_that_names_no_mail_of_ours_reaches_the_chairs(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH, notices={"digest_hours": 0}))
    bounce = report(
        "Undelivered Mail Returned to Sender",
        "This is the mail system at host mx.example.com.\n\nI'm sorry to have to inform you that your message"
        " could not be delivered to one or more recipients.\n",
        sender="Mail Delivery System <MAILER-DAEMON@mx.example.com>",
        headers={"Auto-Submitted": "auto-replied"},
    )
    deliver(stack, service, bounce, "", CONDUCT)

    # Then no case, but an alert that appears in the chairs' digest
    assert stack.cases() == []
    with stack.session() as s:
        [alert] = s.scalars(select(Alert)).all()
    assert alert.kind is AlertKind.UNPLACED


# -- threading stays within a conversation's people -------------------------------------------------


def test_the_reported_person_citing_the_acknowledgement_does_not_enter_her_thread(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, _ = open_case(stack, service, sender=f"Alice Liddell <{ALICE}>")
    [ack] = of_kind(stack, OutboundKind.ACKNOWLEDGEMENT)

    # When Eric (who saw her acknowledgement) writes to the bare address, In-Reply-To that acknowledgement
    mail = report(
        "Re: your report",
        "This is all lies.\n",
        sender=f"Eric <{ERIC}>",
        headers={"In-Reply-To": f"<{ack.message_id}>"},
    )
    deliver(stack, service, mail, ERIC, CONDUCT)

    # Then his mail opens a new case, possibly related, and Alice's conversation holds only her mail
    first, second = stack.cases()
    assert second.related_case_id == first.id
    with stack.session() as s:
        conv1 = s.scalars(select(Conversation).where(Conversation.case_id == case.id, Conversation.number == 1)).one()
    assert [r["address"] for r in conv1.recipients] == [ALICE]
    assert [e.from_addr for e in diary(stack, first) if e.inbound_id is not None] == [ALICE]


def test_a_party_citing_another_conversation_goes_to_his_own(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, _ = alice_case(stack, service)
    [ack] = of_kind(stack, OutboundKind.ACKNOWLEDGEMENT)

    # When Eric, a party of the case, cites Alice's acknowledgement
    mail = report(
        "Re: x", "I want to add something.\n", sender=f"Eric <{ERIC}>", headers={"In-Reply-To": f"<{ack.message_id}>"}
    )
    deliver(stack, service, mail, ERIC, CONDUCT)

    # Then it is recorded in his conversation (2), on the same case
    assert len(stack.cases()) == 1
    last = [e for e in diary(stack, case) if e.inbound_id is not None][-1]
    with stack.session() as s:
        conv2 = s.scalars(select(Conversation).where(Conversation.case_id == case.id, Conversation.number == 2)).one()
    assert last.detail["conversation"] == conv2.id


# -- hidden parts of documents ------------------------------------------------------------------------

_ODF_TEXT = "application/vnd.oasis.opendocument.text"


def _mht() -> bytes:
    html = quopri.encodestring(
        b"<html><body><p>Statement by Alice Liddell, who saw everything at the sprint.</p></body></html>"
    )
    return (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/related; boundary="mht"\r\n\r\n--mht\r\n'
        b"Content-Type: text/html; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
        + html.replace(b"Alice Lid", b"Alice Li=\r\nd")
        + b"\r\n--mht--\r\n"
    )


HIDDEN: dict[str, Callable[[], tuple[str, str, bytes]]] = {
    "a chart object inside an .odt": lambda: (
        "report.odt",
        _ODF_TEXT,
        documents.odf(
            _ODF_TEXT,
            {
                "content.xml": f"<office:document-content {documents.ODF_NS}><office:body><office:text>"
                "<text:p>See the chart.</text:p></office:text></office:body></office:document-content>",
                "Object 1/content.xml": f"<office:document-content {documents.ODF_NS}><office:body><office:chart>"
                "<chart:chart><chart:title><text:p>Incidents reported by Alice Liddell</text:p></chart:title>"
                "</chart:chart></office:chart></office:body></office:document-content>",
            },
        ),
    ),
    "a text box on an .xlsx sheet": lambda: (
        "list.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        documents.ooxml(
            {
                "xl/workbook.xml": "<workbook><sheets><sheet name='s'/></sheets></workbook>",
                "xl/drawings/drawing1.xml": "<xdr:wsDr><xdr:sp><xdr:txBody><a:p><a:r><a:t>Reported by Alice"
                "</a:t></a:r><a:r><a:t> Liddell</a:t></a:r></a:p></xdr:txBody></xdr:sp></xdr:wsDr>",
            }
        ),
    ),
    "a SmartArt diagram in a .pptx": lambda: (
        "slides.pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        documents.ooxml(
            {
                "ppt/presentation.xml": "<p:presentation/>",
                "ppt/diagrams/data1.xml": "<dgm:dataModel><dgm:ptLst><dgm:pt><dgm:t><a:p><a:r><a:t>Alice Liddell"
                "</a:t></a:r></a:p></dgm:t></dgm:pt></dgm:ptLst></dgm:dataModel>",
            }
        ),
    ),
    "a custom property of a .docx": lambda: (
        "statement.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        documents.docx(
            parts={
                "docProps/custom.xml": '<Properties><property name="Witness" fmtid="x" pid="2">'
                "<vt:lpwstr>Alice Liddell</vt:lpwstr></property></Properties>"
            }
        ),
    ),
    "Word 2003 XML with the name over runs": lambda: (
        "statement.xml",
        "application/xml",
        b'<?xml version="1.0"?><?mso-application progid="Word.Document"?><w:wordDocument '
        b'xmlns:w="http://schemas.microsoft.com/office/word/2003/wordml"><w:body><w:p><w:r><w:t>Statement by Ali'
        b"</w:t></w:r><w:r><w:t>ce Lid</w:t></w:r><w:r><w:t>dell</w:t></w:r></w:p></w:body></w:wordDocument>",
    ),
    "an .mht whose soft line break falls inside the name": lambda: ("page.mht", "message/rfc822", _mht()),
    "a JPEG whose EXIF Artist is the name": lambda: (
        "photo.jpg",
        "image/jpeg",
        documents.jpeg({0x013B: "Alice Liddell"}),
    ),
    "a PDF as Word writes it, the name only in its Author": lambda: (
        "minutes.pdf",
        "application/pdf",
        documents.text_pdf(["Minutes of the meeting"], info={"Author": "Alice Liddell", "Producer": "Microsoft Word"}),
    ),
}


@pytest.mark.parametrize("place", list(HIDDEN))
def test_names_in_hidden_parts_of_documents(sqlite_stack: Stack, place: str) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)

    # When Bo's mail to Eric carries her name only there
    mail = member_mail(BO, addr[2], "Hello Eric, see the attachment.\n", attachments=[HIDDEN[place]()])
    deliver(stack, service, mail, BO, addr[2])

    # Then the gate read it and held the mail for her identity
    assert len(delivered_to(stack, ERIC)) == 1
    held = [e for e in diary(stack, case) if e.kind is DiaryKind.HELD]
    assert "reporter-protection" in held[-1].detail["rules"]


TEXTS = {
    "the name %20-encoded in a URL's query string": "https://forms.example/?witness=Alice%20Liddell&x=1",
    "Alice&nbsp;Liddell left as an entity": "Thanks to Alice&nbsp;Liddell for the notes.",
    "&#65;lice Liddell left as an entity": "Thanks to &#65;lice Liddell for the notes.",
    "her phone number with other separators": "You can call 020-7946-0958.",
    "her phone number with the national prefix": "Her number: 0044 (0)20 7946 0958.",
}


@pytest.mark.parametrize("place", list(TEXTS))
def test_names_in_encoded_text(sqlite_stack: Stack, place: str) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)
    phone = "/alias Alice Liddell aka +44 20 7946 0958\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], phone), ADA, addr[cases.TEAM])

    deliver(stack, service, member_mail(BO, addr[2], f"Hello Eric,\n\n{TEXTS[place]}\n"), BO, addr[2])

    assert len(delivered_to(stack, ERIC)) == 1
    held = [e for e in diary(stack, case) if e.kind is DiaryKind.HELD]
    assert "reporter-protection" in held[-1].detail["rules"]


def test_the_reporter_party_is_on_file(sqlite_stack: Stack) -> None:
    # (a guard for the tests above: the reporter is a party with her name and address)
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, _ = open_case(stack, service, sender=f"Alice Liddell <{ALICE}>")
    with stack.session() as s:
        [party] = s.scalars(select(Party).where(Party.case_id == case.id)).all()
    assert (party.role, party.name, party.address) == (PartyRole.REPORTER, "Alice Liddell", ALICE)
    assert header(delivered_to(stack, ALICE)[0], "To").endswith(f"<{ALICE}>")
