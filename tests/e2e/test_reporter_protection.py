"""Reporter protection fails closed: every defect seen from outside, end to end over real SMTP.

Alice Liddell reports; Eric Example is the reported person, in a conversation of his own. Members
write from their mail clients (our MX in front, its Authentication-Results trusted by connection).
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable

import pytest
from sqlalchemy import select

from mailflow.case import service as cases
from mailflow.model import (
    Case,
    Conversation,
    DiaryEntry,
    DiaryKind,
    HeldMail,
    HeldState,
    OutboundKind,
    OutboundMessage,
    OutboundState,
)
from mailflow.service import Service
from tests.support import documents
from tests.support.committee import (
    ADA,
    AUTH,
    BO,
    MX,
    addresses,
    deliver,
    delivered_to,
    diary,
    from_our_mx,
    member_mail,
    of_kind,
    open_case,
    texts_to,
)
from tests.support.mail import header, report
from tests.support.stack import CONDUCT, Stack, send

ALICE = "alice.liddell@example.net"
ERIC = "eric@example.com"
REPORT = (
    "Dear committee,\n\nat the sprint on Tuesday a participant kept touching my shoulder after I asked him to stop.\n"
    "\nAlice\n____\nI am also worried that the same thing happened to the volunteers at the registration desk.\n"
)


def alice_case(stack: Stack, service: Service) -> tuple[Case, dict[int, str]]:
    """Given Alice's report and a conversation with Eric opened from the internal address."""
    case, addr = open_case(stack, service, REPORT, sender=f"Alice Liddell <{ALICE}>")
    start = "[+ Eric Example <eric@example.com>]\n\nHello Eric, we would like to talk to you.\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], start), ADA, addr[cases.TEAM])
    return case, addresses(stack, case)


def held_rules(stack: Stack, case: Case) -> list[set[str]]:
    return [set(e.detail["rules"]) for e in diary(stack, case) if e.kind is DiaryKind.HELD]


def to_eric(stack: Stack) -> int:
    return len(delivered_to(stack, ERIC))


# -- conversations nobody can reroute -------------------------------------------------------------


def test_a_cc_of_the_reporters_conversation_does_not_reroute_it(stack: Stack) -> None:
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)

    # When Bo mails Eric directly from his own client with the reporter conversation's address in Cc
    direct = member_mail(BO, ERIC, "Hello Eric, a quick question.\n", headers={"Cc": addr[1]})
    deliver(stack, service, direct, BO, addr[cases.REPORTER_CONVERSATION])

    # And Ada then answers Alice through her conversation
    answer = "Dear Alice, we have now spoken with the person you reported.\n"
    deliver(stack, service, member_mail(ADA, addr[1], answer), ADA, addr[cases.REPORTER_CONVERSATION])

    # Then the answer reaches Alice and only Alice: her conversation was not rerouted to Eric
    relays = of_kind(stack, OutboundKind.RELAY)
    assert relays[-1].recipients == [ALICE]
    assert "we have now spoken" not in "\n".join(m.decode() for m in delivered_to(stack, ERIC))
    with stack.session() as s:
        conv1 = s.scalars(select(Conversation).where(Conversation.case_id == case.id, Conversation.number == 1)).one()
    assert [r["address"] for r in conv1.recipients] == [ALICE]

    # And the chairs are told what happened, not merely about markers
    alert = texts_to(stack, ADA)
    assert "conversation 1's address in To or Cc" in alert and "nothing was relayed" in alert


def test_the_reporters_address_in_cc_of_a_mail_to_the_reported_persons_conversation(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)

    # When Bo writes to Eric's conversation with Alice's own address in Cc
    mail = member_mail(BO, addr[2], "Hello Eric, about Tuesday.\n", headers={"Cc": ALICE})
    deliver(stack, service, mail, BO, addr[2])

    # Then Eric's conversation still goes to Eric only, and a later mail to it reaches him alone
    deliver(stack, service, member_mail(ADA, addr[2], "Hello Eric, when are you free?\n"), ADA, addr[2])
    assert of_kind(stack, OutboundKind.RELAY)[-1].recipients == [ERIC]
    assert "conversation 2's address in To or Cc" in texts_to(stack, ADA)
    recorded = [e for e in diary(stack, case) if e.kind is DiaryKind.RECIPIENTS]
    assert [(e.detail["conversation"], e.to_addrs) for e in recorded] == [(2, [ERIC])]


# -- everything the reporter gave us is protected ----------------------------------------------------


@pytest.mark.parametrize(
    "quoted",
    [
        "the same thing happened to the volunteers at the registration desk",  # below her "____" line
        "my badge was printed with the wrong pronouns for the second year running",  # from her attached file
    ],
)
def test_the_reporters_words_below_a_signature_and_in_her_attachment(sqlite_stack: Stack, quoted: str) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    # Given Alice's report with a text file attached
    attachment = b"Notes: my badge was printed with the wrong pronouns for the second year running.\n"
    raw = member_mail(
        ALICE, CONDUCT, REPORT, name="Alice Liddell", auth=None, attachments=[("notes.txt", "text/plain", attachment)]
    )
    send(service.smtp_port, raw, sender=ALICE)
    stack.wait_idle()
    [case] = stack.cases()
    addr = addresses(stack, case)
    start = "[+ Eric Example <eric@example.com>]\n\nHello Eric.\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], start), ADA, addr[cases.TEAM])
    addr = addresses(stack, case)

    # When Bo writes her sentence to Eric
    deliver(stack, service, member_mail(BO, addr[2], f"Hello Eric,\n\nwe heard that {quoted}.\n"), BO, addr[2])

    # Then it is held: her words, wherever in what she sent us, are hers
    assert to_eric(stack) == 1
    assert {"reporter-protection"} <= held_rules(stack, case)[-1]


@pytest.mark.parametrize(
    "written",
    [
        "A. Liddell",
        "A Liddell",
        "LIDDELL Alice",
        "A l i c e  L i d d e l l",
        "AliceLiddell",
        "alice.liddell at example dot net",
    ],
)
def test_forms_of_her_name(sqlite_stack: Stack, written: str) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)
    deliver(stack, service, member_mail(BO, addr[2], f"Hello Eric,\n\n{written} told us.\n"), BO, addr[2])
    assert to_eric(stack) == 1
    assert "reporter-protection" in held_rules(stack, case)[-1]


def _html(markup: str) -> tuple[str, str, bytes]:
    return ("page.html", "text/html", markup.encode())


PLACES: dict[str, Callable[[], tuple[str, tuple[tuple[str, str, bytes], ...]]]] = {
    "percent-encoded mailto in plain text": lambda: (
        "Write to mailto:" + "".join(f"%{b:02x}" for b in ALICE.encode()) + " if you like.",
        (),
    ),
    "address base64-encoded in the text": lambda: (
        "Reference: " + base64.b64encode(f"contact {ALICE} today".encode()).decode(),
        (),
    ),
    "HTML attachment: style content": lambda: (
        "See the page.",
        (_html('<style>p::after { content: "Alice Liddell"; }</style><p>Statement</p>'),),
    ),
    "HTML attachment: script document.write": lambda: (
        "See the page.",
        (
            _html(
                '<script>document.write("Alice Li" + "ddell".replace("x","")); document.write("Alice Liddell")</script>'
            ),
        ),
    ),
    "HTML attachment: split by a hidden span": lambda: (
        "See the page.",
        (_html('<p>Ali<span style="display:none">zzz</span>ce Liddell wrote</p>'),),
    ),
    "vCard 2.1 with quoted-printable fields": lambda: (
        "Her card.",
        (
            (
                "card.vcf",
                "text/x-vcard",
                b"BEGIN:VCARD\r\nVERSION:2.1\r\nN;ENCODING=QUOTED-PRINTABLE:Lid=\r\ndell;Ali=\r\nce\r\n"
                b"FN;ENCODING=QUOTED-PRINTABLE:Ali=\r\nce Lid=\r\ndell\r\nEND:VCARD\r\n",
            ),
        ),
    ),
    "RTF with \\'xx escapes": lambda: (
        "The statement.",
        (("statement.rtf", "application/rtf", b"{\\rtf1\\ansi\\ansicpg1252 Statement by \\'41lice Li\\'64dell.}"),),
    ),
    "UTF-16 CSV without BOM, sent as octet-stream": lambda: (
        "The list.",
        (("list.csv", "application/octet-stream", "name,role\r\nAlice Liddell,reporter\r\n".encode("utf-16-le")),),
    ),
    "docx whose main part is not word/document.xml": lambda: (
        "The document.",
        (
            (
                "statement.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                documents.docx("word/main.xml", documents.word_body(documents.runs("Statement by Ali", "ce Liddell"))),
            ),
        ),
    ),
    "PDF with compressed text streams": lambda: (
        "The PDF.",
        (("statement.pdf", "application/pdf", documents.text_pdf(["Statement by Alice Liddell"])),),
    ),
    ".txt.gz": lambda: (
        "Compressed.",
        (("notes.txt.gz", "application/gzip", gzip.compress(b"Alice Liddell said so.\n")),),
    ),
    ".zip with a .txt inside": lambda: (
        "Zipped.",
        (("notes.zip", "application/zip", documents.zip_of({"notes.txt": "Alice Liddell said so.\n"})),),
    ),
}


@pytest.mark.parametrize("place", list(PLACES))
def test_places_where_her_name_hides_are_read(sqlite_stack: Stack, place: str) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)
    body, attachments = PLACES[place]()

    # When Bo's mail to Eric carries her name in that place
    mail = member_mail(BO, addr[2], f"Hello Eric,\n\n{body}\n", attachments=attachments)
    deliver(stack, service, mail, BO, addr[2])

    # Then the gate read it there and held the mail for her identity (not only for what it could not read)
    assert to_eric(stack) == 1
    assert "reporter-protection" in held_rules(stack, case)[-1]


# -- fail closed: what cannot be read does not leave, unless a chair releases it -------------------


def test_an_unreadable_attachment_is_held_and_only_a_chair_releases_it(stack: Stack) -> None:
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)

    # When Bo sends Eric a photo (the gate cannot read pixels: it could show Alice)
    photo = ("photo.jpg", "image/jpeg", documents.jpeg())
    deliver(stack, service, member_mail(BO, addr[2], "Hello Eric, the photo.\n", attachments=[photo]), BO, addr[2])

    # Then it is held with the reason, Bo and the chair are told, and the mail waits reaching nobody
    assert to_eric(stack) == 1
    assert held_rules(stack, case)[-1] == {"unread-part"}
    notice = texts_to(stack, BO)
    assert "image content cannot be read" in notice and "Release token:" in notice
    with stack.session() as s:
        [kept] = s.scalars(select(HeldMail)).all()
        outbound = s.get(OutboundMessage, kept.outbound_id)
    assert kept.state is HeldState.HELD and outbound is not None and outbound.state is OutboundState.HELD
    token = notice.split("Release token:")[1].split()[0]

    # When Bo (a member, not a chair) replies "release": refused, nothing sent
    reply = f"release it is only a landscape\n\n> Release token: {token}\n"
    deliver(stack, service, member_mail(BO, addr[cases.TEAM], reply), BO, addr[cases.TEAM])
    assert to_eric(stack) == 1

    # When Ada, the chair, replies "release" with her reason
    reply = f"release I looked at it: a landscape, nobody on it\n\n> Release token: {token}\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], reply), ADA, addr[cases.TEAM])

    # Then the mail leaves as it was, and the diary names the chair and the reason
    assert to_eric(stack) == 2
    [released] = [e for e in diary(stack, case) if e.kind is DiaryKind.RELEASED]
    assert released.actor == "Ada Chair" and "a landscape" in released.detail["reason"]
    with stack.session() as s:
        assert s.scalars(select(HeldMail)).one().state is HeldState.RELEASED

    # And the token counts once
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], reply), ADA, addr[cases.TEAM])
    assert to_eric(stack) == 2


# -- parties are authenticated too ------------------------------------------------------------------


def test_a_forged_party_is_recorded_as_unverified_and_gives_no_permission(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)

    # When a stranger writes in Alice's name with the case's tag, and our MX says DMARC fails
    forged = (
        f"Authentication-Results: {MX}; dmarc=fail header.from=example.net\r\n"
        f"Received: from evil.example ([198.51.100.7]) by {MX}; Tue, 03 Nov 2026 11:00:00 +0000\r\n"
    ).encode() + report(
        f"Re: [conduct #{case.ref}] my report",
        "I give permission to share my name with the person I reported.\n",
        sender=f"Alice Liddell <{ALICE}>",
    )
    deliver(stack, service, forged, ALICE, CONDUCT)

    # Then it is recorded on her case as unverified, and the chair is told
    entry = [e for e in diary(stack, case) if e.inbound_id is not None][-1]
    assert entry.unverified and entry.from_addr == ALICE
    assert "Unverified mail in a party's name" in "\n".join(header(m, "Subject") for m in delivered_to(stack, ADA))
    assert "UNVERIFIED" in texts_to(stack, BO)

    # And a chair's /permission on that entry is refused
    command = f"/permission Alice Liddell {entry.seq}\n"
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], command), ADA, addr[cases.TEAM])
    assert "REFUSED: /permission" in texts_to(stack, ADA) and "unverified" in texts_to(stack, ADA)


def test_a_third_party_citing_the_reports_message_id_opens_a_new_case(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, _ = alice_case(stack, service)
    with stack.session() as s:
        report_entry = s.scalars(
            select(DiaryEntry).where(DiaryEntry.case_id == case.id, DiaryEntry.kind == DiaryKind.REPORT)
        ).one()

    # When someone else writes with In-Reply-To the report's own Message-ID
    stranger = report(
        "Re: the sprint", "I saw your message, here is my side.\n", sender="Mallory <mallory@example.org>",
        headers={"In-Reply-To": f"<{report_entry.message_id}>"},
    )  # fmt: skip
    deliver(stack, service, stranger, "mallory@example.org", CONDUCT)

    # Then it is not in Alice's conversation: a new case, marked possibly related, saying what it cited
    first, second = stack.cases()
    assert second.related_case_id == first.id
    assert "mallory@example.org" not in [e.from_addr for e in diary(stack, first)]
    assert f"it cited <{report_entry.message_id}>" in texts_to(stack, BO)


def test_authentication_results_count_only_from_a_trusted_relay(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    # Given a trusted authserv-id, but our MX at another address than whoever connects now
    settings = stack.settings(
        authentication={"trusted_authserv_ids": [MX], "trusted_relays": ["192.0.2.25"], "verify_dkim": False}
    )
    service = stack.start(settings)
    case, addr = open_case(stack, service)

    # When a mail with a perfect Authentication-Results line comes straight to our listener
    deliver(stack, service, member_mail(ADA, addr[cases.TEAM], "/state investigating\n"), ADA, addr[cases.TEAM])

    # Then it is not believed: the command is not obeyed and the mail is flagged as unverified
    with stack.session() as s:
        assert s.get(Case, case.id).state.value == "new"  # type: ignore[union-attr]
    assert [e.unverified for e in diary(stack, case) if e.inbound_id is not None][-1]


def test_only_a_bounce_to_a_mails_own_return_path_marks_it_bounced(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)
    [relay] = of_kind(stack, OutboundKind.RELAY)
    assert relay.mail_from.startswith("conduct+bounce.") and relay.bounce_token in relay.mail_from

    # When a forged bounce quoting the relay's Message-ID comes to the internal address
    bounce = _bounce(relay.message_id, ERIC)
    deliver(stack, service, bounce, "", addr[cases.TEAM])

    # Then the relay stays sent
    with stack.session() as s:
        assert s.get(OutboundMessage, relay.id).state is OutboundState.SENT  # type: ignore[union-attr]

    # When the real bounce comes back to its return path
    deliver(stack, service, _bounce(relay.message_id, ERIC, nonce="2"), "", relay.mail_from)

    # Then it is marked bounced and recorded on the case
    with stack.session() as s:
        assert s.get(OutboundMessage, relay.id).state is OutboundState.BOUNCED  # type: ignore[union-attr]
    assert any(e.kind is DiaryKind.BOUNCE for e in diary(stack, case))


def _bounce(message_id: str, recipient: str, nonce: str = "1") -> bytes:
    boundary = "b0undary"
    return (
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example.com>\r\nTo: {CONDUCT}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <bounce-{nonce}@mx.example.com>\r\n"
        f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary={boundary}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        "This is the mail system. Your message could not be delivered.\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{message_id}>\r\n"
        f"Subject: hello\r\n\r\n--{boundary}--\r\n"
    ).encode()


def _nested_zips(depth: int) -> bytes:
    data = documents.zip_of({"inner.txt": "nothing here"})
    for level in range(depth):
        data = documents.zip_of({f"level{level}.zip": data})
    return data


def _broken_charset(to: str) -> bytes:
    """A member's mail whose text attachment declares a charset nobody knows, in 8-bit bytes."""
    body = (
        f"From: Bo Member <{BO}>\r\nTo: {to}\r\nSubject: the file\r\nMessage-ID: <broken-charset@example.net>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Eric, see the file.\r\n"
        '--b\r\nContent-Type: text/plain; charset="x-no-such-charset"\r\n'
        'Content-Disposition: attachment; filename="notes.txt"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n'
    ).encode() + "Gr\xfc\xdfe aus Z\xfcrich\r\n--b--\r\n".encode("latin-1")
    return from_our_mx(BO, body)


BAD_INPUT: dict[str, Callable[[], tuple[str, str, bytes]]] = {
    "a truncated PDF": lambda: ("s.pdf", "application/pdf", documents.text_pdf(["Statement of the meeting"])[:300]),
    "a zip bomb": lambda: ("bomb.zip", "application/zip", documents.zip_of({"zeros.txt": b"\0" * (120 * 1024 * 1024)})),
    "archives nested too deep": lambda: ("deep.zip", "application/zip", _nested_zips(12)),
    "an encrypted PDF": lambda: (
        "locked.pdf",
        "application/pdf",
        b"%PDF-1.4\n1 0 obj << /Encrypt 2 0 R >> endobj\n%%EOF",
    ),
}


@pytest.mark.parametrize("bad", [*BAD_INPUT, "a broken charset"])
def test_bad_input_to_a_reader_holds_the_mail_with_its_reason(sqlite_stack: Stack, bad: str) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = alice_case(stack, service)

    # When Bo sends Eric a file no reader can read to the end
    if bad in BAD_INPUT:
        mail = member_mail(BO, addr[2], "Hello Eric, see the file.\n", attachments=[BAD_INPUT[bad]()])
    else:
        mail = _broken_charset(addr[2])
    deliver(stack, service, mail, BO, addr[2])

    # Then nothing crashed, nothing passed, nothing was lost: held, with the reason, and kept
    assert to_eric(stack) == 1
    assert "unread-part" in held_rules(stack, case)[-1]
    with stack.session() as s:
        assert s.scalars(select(HeldMail)).one().state is HeldState.HELD
    assert "could not read to the end" in texts_to(stack, BO)
