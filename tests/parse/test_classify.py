"""classify(): who or what sent a message, on messages built here (the corpus tests use real mail)."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from mailflow.model.types import MessageKind
from mailflow.parse.classify import Classification, classify
from mailflow.parse.message import parse_message

OUR_ACK_ID = "ack.7f3a@conduct.example.org"  # the acknowledgement Mailflow sent earlier
REPORT_ID = "report.1@mail.example.net"


def _run(message: Message, envelope_from: str | None = None) -> Classification:
    raw = message.as_bytes(policy=email.policy.SMTP) if isinstance(message, EmailMessage) else message.as_bytes()
    return classify(parse_message(raw), envelope_from=envelope_from)


def _mail(subject: str, body: str, sender: str = "Alex Doe <alex@example.net>", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "Conduct Team <conduct@example.org>"
    message["Subject"] = subject
    message["Date"] = "Tue, 04 Mar 2025 10:00:00 +0000"
    message["Message-ID"] = "<m.1@mail.example.net>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


def _fields(*pairs: tuple[str, str]) -> Message:
    block = Message()
    for name, value in pairs:
        block[name] = value
    return block


def _delivery_status(*recipients: tuple[str, str, str]) -> Message:
    """A message/delivery-status part: one per-message block, then one block per recipient."""
    part = MIMEBase("message", "delivery-status")
    blocks: list[Message | str] = [
        _fields(("Reporting-MTA", "dns; mx.example.org"), ("Arrival-Date", "Tue, 4 Mar 2025 10:00:01 +0000"))
    ]
    for address, action, status in recipients:
        blocks.append(
            _fields(
                ("Final-Recipient", f"rfc822; {address}"),
                ("Original-Recipient", f"rfc822;{address}"),
                ("Action", action),
                ("Status", status),
                ("Diagnostic-Code", "smtp; 550 5.1.1 <x>: Recipient address rejected: User unknown"),
            )
        )
    part.set_payload(blocks)
    return part


def _postfix_dsn(*, action: str = "failed", status: str = "5.1.1") -> MIMEMultipart:
    """What Postfix sends back: notice, delivery-status, and the returned message's header."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "MAILER-DAEMON@mx.example.org (Mail Delivery System)"
    report["To"] = "conduct@example.org"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Auto-Submitted"] = "auto-replied"
    report["Message-ID"] = "<20250304100002.4A1B2@mx.example.org>"
    report.attach(
        MIMEText(
            "This is the mail system at host mx.example.org.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients.\n"
        )
    )
    report.attach(_delivery_status(("nobody@example.com", action, status)))
    original_headers = (
        "From: Conduct Team <conduct@example.org>\n"
        "To: nobody@example.com\n"
        "Subject: We received your report\n"
        f"Message-ID: <{OUR_ACK_ID}>\n"
        "Auto-Submitted: auto-replied\n"
    )
    report.attach(MIMEText(original_headers, "rfc822-headers"))
    return report


def _assert_clean_reasons(result: Classification, *forbidden: str) -> None:
    assert result.reasons, "every non-trivial decision says why"
    for reason in result.reasons:
        assert "@" not in reason, reason
        for word in forbidden:
            assert word.lower() not in reason.lower(), reason


# --- auto-replies -------------------------------------------------------------------------------


def test_vacation_auto_reply_with_auto_submitted() -> None:
    vacation = _mail(
        "Out of office: We received your report",
        "I am away until Monday and will read your message when I am back.",
        Auto_Submitted="auto-replied",
        In_Reply_To=f"<{OUR_ACK_ID}>",
        References=f"<{REPORT_ID}> <{OUR_ACK_ID}>",
    )
    result = _run(vacation, envelope_from="alex@example.net")
    assert result.kind is MessageKind.AUTO_REPLY
    assert not result.may_answer
    assert "Auto-Submitted: auto-replied" in result.reasons
    assert result.original_message_ids == (OUR_ACK_ID, REPORT_ID)
    assert result.failed_recipients == ()
    _assert_clean_reasons(result, "away until")


def test_exchange_online_automatic_reply() -> None:
    reply = _mail(
        "Automatic reply: We received your report",
        "Thank you for your email. I am currently out of the office.",
        Auto_Submitted="auto-generated",
        X_Auto_Response_Suppress="All",
        X_MS_Exchange_Inbox_Rules_Loop="alex@example.net",
        In_Reply_To=f"<{OUR_ACK_ID}>",
    )
    result = _run(reply, envelope_from="alex@example.net")
    assert result.kind is MessageKind.AUTO_REPLY
    assert result.original_message_ids == (OUR_ACK_ID,)


def test_legacy_exchange_out_of_office_without_auto_submitted() -> None:
    # Exchange 2007-2010 sent OOF notices without Auto-Submitted; the subject alone would not do,
    # the subject with X-Auto-Response-Suppress: All (Exchange's mark on its own notices) does.
    reply = _mail(
        "Out of Office: We received your report",
        "I am out of the office until 10 March with limited access to email.",
        X_Auto_Response_Suppress="All",
        Thread_Topic="We received your report",
        In_Reply_To=f"<{OUR_ACK_ID}>",
    )
    result = _run(reply, envelope_from="alex@example.net")
    assert result.kind is MessageKind.AUTO_REPLY
    assert "X-Auto-Response-Suppress: All" in result.reasons
    assert result.original_message_ids == (OUR_ACK_ID,)


def test_outlook_suppress_header_on_ordinary_mail_stays_personal() -> None:
    # Outlook puts X-Auto-Response-Suppress on ordinary mail: it asks *others* not to auto-reply.
    mail = _mail(
        "Incident at the Friday social",
        "Hello, I would like to report something that happened on Friday.",
        X_Auto_Response_Suppress="DR, RN, NRN, OOF, AutoReply",
    )
    result = _run(mail, envelope_from="alex@example.net")
    assert result.kind is MessageKind.PERSONAL
    assert result.may_answer
    assert any("X-Auto-Response-Suppress" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Autoreply", "yes"),
        ("X-Autorespond", "Vacation"),
        ("X-Autogenerated", "Reply"),
        ("Precedence", "auto_reply"),
    ],
)
def test_vendor_auto_reply_headers(header: str, value: str) -> None:
    result = _run(_mail("Re: your report", "Thanks, noted.", **{header.replace("-", "_"): value}))
    assert result.kind is MessageKind.AUTO_REPLY


def test_read_receipt_is_an_auto_reply_naming_the_original() -> None:
    receipt = MIMEMultipart("report", report_type="disposition-notification")
    receipt["From"] = "Alex Doe <alex@example.net>"
    receipt["To"] = "conduct@example.org"
    receipt["Subject"] = "Read: We received your report"
    receipt.attach(MIMEText("Your message was displayed on the recipient's screen."))
    mdn = MIMEBase("message", "disposition-notification")
    mdn.set_payload(
        "Reporting-UA: mail.example.net; Example Mail 1.0\n"
        "Final-Recipient: rfc822;alex@example.net\n"
        f"Original-Message-ID: <{OUR_ACK_ID}>\n"
        "Disposition: manual-action/MDN-sent-manually; displayed\n"
    )
    receipt.attach(mdn)
    result = _run(receipt, envelope_from="")
    assert result.kind is MessageKind.AUTO_REPLY
    assert result.original_message_ids == (OUR_ACK_ID,)


# --- bounces --------------------------------------------------------------------------------------


def test_postfix_dsn_with_original_headers_attached() -> None:
    result = _run(_postfix_dsn(), envelope_from="")
    assert result.kind is MessageKind.BOUNCE
    assert not result.may_answer
    assert "multipart/report; report-type=delivery-status" in result.reasons
    assert "null envelope sender" in result.reasons
    assert result.original_message_ids == (OUR_ACK_ID,)
    assert result.failed_recipients == ("nobody@example.com",)
    _assert_clean_reasons(result, "sorry", "mx.example.org")


def test_dsn_outranks_its_auto_submitted_and_list_headers() -> None:
    dsn = _postfix_dsn()
    dsn["List-Id"] = "Some list <some.lists.example.org>"
    dsn["Precedence"] = "bulk"
    result = _run(dsn, envelope_from=None)
    assert result.kind is MessageKind.BOUNCE
    assert result.reasons[0] == "multipart/report; report-type=delivery-status"
    assert "Auto-Submitted: auto-replied" in result.reasons  # also recorded, lower in rank
    assert "List-Id present" in result.reasons


def test_delay_warning_is_a_bounce_without_failed_recipients() -> None:
    result = _run(_postfix_dsn(action="delayed", status="4.4.1"), envelope_from="")
    assert result.kind is MessageKind.BOUNCE
    assert result.failed_recipients == ()
    assert "delivery delayed, not failed (warning)" in result.reasons
    assert result.original_message_ids == (OUR_ACK_ID,)


def test_plain_text_bounce_from_mailer_daemon_with_inline_copy() -> None:
    bounce = _mail(
        "failure notice",
        "Hi. This is the qmail-send program at mx.example.com.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        "<nobody@example.com>:\n"
        "Sorry, no mailbox here by that name. (#5.1.1)\n\n"
        "--- Below this line is a copy of the message.\n\n"
        "From: Conduct Team <conduct@example.org>\n"
        "To: nobody@example.com\n"
        f"Message-ID: <{OUR_ACK_ID}>\n"
        "Subject: We received your report\n\n"
        "Thank you for writing to us.\n",
        sender="MAILER-DAEMON@mx.example.com",
    )
    result = _run(bounce, envelope_from=None)
    assert result.kind is MessageKind.BOUNCE
    assert "From: MAILER-DAEMON" in result.reasons
    assert result.original_message_ids == (OUR_ACK_ID,)
    assert result.failed_recipients == ("nobody@example.com",)


def test_exim_bounce_with_x_failed_recipients() -> None:
    bounce = _mail(
        "Mail delivery failed: returning message to sender",
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  Nobody@Example.COM\n    SMTP error from remote mail server after RCPT TO\n",
        sender="Mail Delivery System <Mailer-Daemon@mx.example.com>",
        X_Failed_Recipients="Nobody@Example.COM",
        Auto_Submitted="auto-replied",
    )
    result = _run(bounce, envelope_from="")
    assert result.kind is MessageKind.BOUNCE
    assert "X-Failed-Recipients present" in result.reasons
    assert result.failed_recipients == ("Nobody@example.com",)  # local part kept as written


def test_arf_complaint_is_delivery_feedback() -> None:
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "Feedback Loop <fbl@isp.example>"
    report["To"] = "abuse@conduct.example.org"
    report["Subject"] = "Complaint about message"
    report.attach(MIMEText("This is an email abuse report."))
    feedback = MIMEBase("message", "feedback-report")
    feedback.set_payload("Feedback-Type: abuse\nUser-Agent: Example-FBL/1.0\nVersion: 1\n")
    report.attach(feedback)
    original = _mail("We received your report", "Thank you.", sender="conduct@example.org")
    original.replace_header("Message-ID", f"<{OUR_ACK_ID}>")
    report.attach(MIMEMessage(original))
    result = _run(report, envelope_from="bounces@isp.example")
    assert result.kind is MessageKind.BOUNCE
    assert result.original_message_ids == (OUR_ACK_ID,)
    assert result.failed_recipients == ()


def test_null_envelope_sender_with_innocent_body_is_never_answered() -> None:
    # RFC 5321 4.5.5 / RFC 3834: nothing may be sent back to a null reverse-path. Without any
    # sign of a delivery failure it is an automatic message, not a bounce.
    mail = _mail("Hello", "Hello, thank you for your message. Have a nice day.")
    result = _run(mail, envelope_from="")
    assert result.kind is MessageKind.AUTO_REPLY
    assert not result.may_answer
    assert result.reasons == ("null envelope sender",)
    assert _run(mail, envelope_from="<>").kind is MessageKind.AUTO_REPLY


def test_return_path_header_stands_in_for_an_unknown_envelope() -> None:
    mail = _mail("Hello", "Hello, thank you for your message.", Return_Path="<>")
    assert _run(mail, envelope_from=None).kind is MessageKind.AUTO_REPLY
    # a known envelope sender wins over a header that an earlier hop left behind
    assert _run(mail, envelope_from="alex@example.net").kind is MessageKind.PERSONAL


# --- lists and bulk -------------------------------------------------------------------------------


def test_list_mail_with_list_id() -> None:
    post = _mail(
        "[community] Meetup next week",
        "Hi all, the next meetup is on Thursday.",
        List_Id="Community chat <community.lists.example.org>",
        List_Post="<mailto:community@lists.example.org>",
        List_Unsubscribe="<mailto:community-leave@lists.example.org>",
    )
    result = _run(post, envelope_from="community-bounces@lists.example.org")
    assert result.kind is MessageKind.LIST
    assert not result.may_answer
    assert "List-Id present" in result.reasons
    assert result.original_message_ids == ()


def test_precedence_bulk_newsletter() -> None:
    newsletter = _mail(
        "Our March newsletter",
        "Ten things you missed this month.",
        sender="Example News <news@news.example.com>",
        Precedence="bulk",
        List_Unsubscribe="<https://news.example.com/unsubscribe?u=1>",
        List_Unsubscribe_Post="List-Unsubscribe=One-Click",
    )
    result = _run(newsletter, envelope_from="bounce-123@news.example.com")
    assert result.kind is MessageKind.BULK
    assert result.reasons[:2] == ("Precedence: bulk", "List-Unsubscribe without other list fields")


def test_auto_reply_relayed_by_a_list_is_an_auto_reply() -> None:
    relayed = _mail(
        "Auto: [community] Meetup next week",
        "I am away.",
        Auto_Submitted="auto-replied",
        List_Id="Community chat <community.lists.example.org>",
    )
    assert _run(relayed).kind is MessageKind.AUTO_REPLY


# --- people ---------------------------------------------------------------------------------------


def test_personal_reply_quoting_delivery_failed_stays_personal() -> None:
    reply = _mail(
        "Re: Mail delivery failed: returning message to sender",
        "Hi, I think my first report bounced, so here it is again: someone kept\n"
        "interrupting me during my talk.\n\n"
        "On Tue, 4 Mar 2025, Mail Delivery System wrote:\n"
        "> This message was created automatically by mail delivery software.\n"
        "> A message that you sent could not be delivered to one or more of its recipients.\n"
        "> Mail delivery failed.\n",
        In_Reply_To="<bounce.1@mx.example.com>",
    )
    result = _run(reply, envelope_from="alex@example.net")
    assert result.kind is MessageKind.PERSONAL
    assert result.may_answer
    assert result.original_message_ids == ()
    assert result.failed_recipients == ()


def test_person_mentioning_delivery_failed_in_own_words_stays_personal() -> None:
    mail = _mail(
        "Problem at the conference",
        "I tried to write to the organisers but got 'delivery failed' back, so I am writing here.",
    )
    assert _run(mail, envelope_from="alex@example.net").kind is MessageKind.PERSONAL


def test_forwarded_bounce_from_a_person_stays_personal() -> None:
    forward = MIMEMultipart()
    forward["From"] = "Alex Doe <alex@example.net>"
    forward["To"] = "conduct@example.org"
    forward["Subject"] = "Fwd: Undelivered Mail Returned to Sender"
    forward.attach(MIMEText("My report to the organisers bounced, see attached. Can you help?"))
    forward.attach(MIMEMessage(_postfix_dsn()))
    result = _run(forward, envelope_from="alex@example.net")
    assert result.kind is MessageKind.PERSONAL


def test_auto_submitted_no_is_personal() -> None:
    mail = _mail("A report", "Something happened at the event.", Auto_Submitted="no")
    result = _run(mail, envelope_from="alex@example.net")
    assert result.kind is MessageKind.PERSONAL
    assert result.may_answer
    assert result.reasons == ("Auto-Submitted: no",)


def test_bounce_like_subject_alone_from_a_person_stays_personal() -> None:
    # Decision: a subject is never enough. A person's mail with "Undeliverable:" in its subject and
    # nothing else of a bounce (no DSN part, no mail-system sender, no bounce wording in the text)
    # is PERSONAL and gets its acknowledgement; the cost of the opposite error is a reporter who
    # never hears back. The discounted signal is kept in the reasons for the diary.
    mail = _mail(
        "Undeliverable: harassment at the meetup",
        "Hello, I want to report what happened at the meetup on Friday.",
    )
    result = _run(mail, envelope_from="alex@example.net")
    assert result.kind is MessageKind.PERSONAL
    assert result.may_answer
    assert any("bounce-like subject" in r and "not trusted" in r for r in result.reasons)
    _assert_clean_reasons(result, "harassment", "meetup")


def test_vacation_like_subject_alone_stays_personal() -> None:
    mail = _mail("Out of office incident", "At the offsite someone made a remark about my accent.")
    assert _run(mail, envelope_from="alex@example.net").kind is MessageKind.PERSONAL


def test_postmaster_person_writing_normally_stays_personal() -> None:
    mail = _mail(
        "Report",
        "I run the mail server here and want to report an incident.",
        sender="postmaster@example.net",
    )
    assert _run(mail, envelope_from="postmaster@example.net").kind is MessageKind.PERSONAL


def test_ordinary_mail_has_no_reasons_and_may_be_answered() -> None:
    result = _run(_mail("A report", "Something happened at the event."), envelope_from="alex@example.net")
    assert result == Classification(MessageKind.PERSONAL, (), (), ())
    assert result.may_answer


def test_classification_is_frozen() -> None:
    result = _run(_mail("A report", "Hello."))
    with pytest.raises(AttributeError):
        result.kind = MessageKind.BOUNCE  # type: ignore[misc]
