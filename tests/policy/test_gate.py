"""The policy gate as a whole: reporter-leak variants held by ``evaluate``, withheld identities, the explanation.

Every mail is built here with the standard library. Each leak variant goes through a different
decoding path; for each one the test asserts that ``evaluate`` holds it with a ``reporter-protection``
violation naming the expected surface and form, that the SAME bytes pass once the person's written
permission is recorded, and that they pass when the only outside recipient is that person. No mocks.
"""

from __future__ import annotations

import base64
import quopri
import unicodedata
from collections.abc import Callable
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from mailflow.mime.tree import read_message
from mailflow.policy.exposure import Identity
from mailflow.policy.gate import evaluate
from mailflow.policy.outgoing import (
    SMTP_LINE_LIMIT,
    Decision,
    Outgoing,
    Protected,
    Recipient,
    Violation,
    visible_header_names,
)

CONDUCT = "conduct@conduct.example"
MEMBER = "ada@conduct.example"
INSIDERS = frozenset({CONDUCT, MEMBER})

JANE = Identity(
    label="reporter #1",
    names=("Jane Doe",),
    addresses=("jane.doe@example.org",),
    aliases=("@janed", "jdoe42"),
)
JANE_WORDS = (
    "reporter #1's message (diary entry 3)",
    "At the sprint on Saturday he kept interrupting me and made comments about my accent in front "
    "of the whole table. When I asked him to stop he laughed and said I was too sensitive.",
)
JOSE = Identity(label="harmed person #1", names=("José Núñez",), addresses=("jose@example.net",))
ERIC_ID = Identity(label="reported #1", names=("Eric Example",), addresses=("eric@example.com",), aliases=("@ericx",))

ERIC = Recipient("eric@example.com", "Eric Example")
WITNESS = Recipient("wendy@example.com", "Wendy Witness")
JANE_R = Recipient("jane.doe@example.org", "Jane Doe")
JOSE_R = Recipient("jose@example.net", "José Núñez")


def protected(permitted: frozenset[str] = frozenset()) -> tuple[Protected, ...]:
    return (
        Protected(JANE, (JANE_WORDS,), permitted=JANE.label in permitted),
        Protected(JOSE, (), permitted=JOSE.label in permitted),
    )


def outgoing(
    raw: bytes,
    recipients: tuple[Recipient, ...] = (ERIC,),
    *,
    permitted: frozenset[str] = frozenset(),
    withheld: tuple[Identity, ...] = (),
    top_text: str = "Hello Eric,\n",
) -> Outgoing:
    """An outgoing mail to an ongoing conversation whose recipients do not change."""
    return Outgoing(
        raw=raw,
        top_text=top_text,
        recipients=recipients,
        previous=recipients,
        protected=protected(permitted),
        withheld=withheld,
        insiders=INSIDERS,
    )


def headers(msg: EmailMessage | MIMEMultipart, subject: str = "Meeting request") -> None:
    msg["From"] = f"Ada Member <{MEMBER}>"
    msg["To"] = "Eric Example <eric@example.com>"
    msg["Cc"] = CONDUCT
    if "Subject" not in msg:
        msg["Subject"] = subject


def simple(body: str, subject: str = "Meeting request") -> bytes:
    msg = EmailMessage()
    headers(msg, subject)
    msg.set_content(body)
    return msg.as_bytes()


def raw_message(extra_headers: str, body: bytes | str) -> bytes:
    head = (
        f"From: Ada Member <{MEMBER}>\nTo: Eric Example <eric@example.com>\nCc: {CONDUCT}\n"
        + extra_headers.strip("\n")
        + "\n\n"
    )
    return head.encode("ascii") + (body.encode("ascii") if isinstance(body, str) else body)


def html_alternative(markup: str, plain: str = "Hello Eric, please see the formatted version.") -> bytes:
    msg = EmailMessage()
    headers(msg)
    msg.set_content(plain)
    msg.add_alternative(markup, subtype="html")
    return msg.as_bytes()


def quoted(text: str, width: int = 60, prefix: str = "> ") -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(prefix + line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, prefix + line])


# --- the leak variants ------------------------------------------------------------------------


def subject_plain() -> bytes:
    return simple("Hello Eric, can we talk on Monday?", subject="Follow-up about Jane Doe")


def subject_rfc2047_b() -> bytes:
    encoded = base64.b64encode("Über Jane Doe".encode()).decode()
    return raw_message(f"Subject: =?UTF-8?B?{encoded}?=", "Hello Eric, can we talk on Monday?\n")


def subject_rfc2047_q() -> bytes:
    return raw_message("Subject: =?ISO-8859-1?Q?Jos=E9_N=FA=F1ez's_statement?=", "Hello Eric.\n")


def plain_body() -> bytes:
    return simple("Hello Eric,\n\nthe report from Jane Doe came in on Monday.\n")


def html_entities() -> bytes:
    return html_alternative("<p>Thanks to &#74;ane&nbsp;D&#x6F;e &amp; the others.</p>")


def html_tags_splitting_the_name() -> bytes:
    return html_alternative("<p>We spoke with J<b>ane</b> D<i>oe</i> yesterday.</p>")


def quoted_history_of_her_words() -> bytes:
    body = "Hello Eric,\n\nthis is what was reported:\n\n" + quoted(JANE_WORDS[1])
    return simple(body)


def reply_attribution_line() -> bytes:
    body = "Hello Eric,\n\nsee below.\n\nOn Mon, 2 Nov 2026, Jane Doe wrote:\n> Hello committee.\n"
    return simple(body)


def quoted_printable_part() -> bytes:
    body = quopri.encodestring("Hello Eric,\n\nwe spoke with Jane Doe at the café.\n".encode()).decode()
    body = body.replace("Jane Doe", "Ja=\nne Doe")  # a soft line break inside the name
    return raw_message(
        "Subject: Meeting request\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable",
        body,
    )


def base64_part() -> bytes:
    body = base64.encodebytes("Hello Eric,\n\nJane Doe asked us to follow up \u2013 thanks.\n".encode()).decode()
    return raw_message(
        "Subject: Meeting request\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64",
        body,
    )


def attachment_filename_rfc2231() -> bytes:
    return raw_message(
        'Subject: Files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"',
        "--b1\nContent-Type: text/plain\n\nHello Eric, the minutes are attached.\n"
        "--b1\nContent-Type: application/pdf\n"
        "Content-Disposition: attachment; filename*=utf-8''Statement%20Jos%C3%A9%20N%C3%BA%C3%B1ez.pdf\n"
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(b"%PDF-1.4\x00\x01\x02\x03").decode() + "--b1--\n",
    )


def text_attachment() -> bytes:
    msg = EmailMessage()
    headers(msg)
    msg.set_content("Hello Eric, the notes are attached.")
    msg.add_attachment(b"Interview notes\nJane Doe said the following.\n", maintype="text",
                       subtype="plain", filename="notes.txt")  # fmt: skip
    return msg.as_bytes()


def forwarded_original(body: str = "Hello, I would like to report something.") -> EmailMessage:
    original = EmailMessage()
    original["From"] = "Jane Doe <jane.doe@example.org>"
    original["To"] = CONDUCT
    original["Subject"] = "Incident at the sprint"
    original.set_content(body)
    return original


def forwarded_rfc822_headers() -> bytes:
    outer = MIMEMultipart("mixed")
    headers(outer, "Fwd: Incident at the sprint")
    outer.attach(MIMEText("Hello Eric, see the attached message.", "plain"))
    outer.attach(MIMEMessage(forwarded_original()))
    return outer.as_bytes()


def forwarded_rfc822_body() -> bytes:
    original = EmailMessage()
    original["From"] = "someone@example.com"
    original["Subject"] = "Incident"
    original.set_content("Notes from the sprint. Posted by jdoe42 on the forum.")
    outer = MIMEMultipart("mixed")
    headers(outer, "Fwd: Incident")
    outer.attach(MIMEText("Hello Eric, see the attached message.", "plain"))
    outer.attach(MIMEMessage(original))
    return outer.as_bytes()


def forwarded_rfc822_her_words() -> bytes:
    original = EmailMessage()
    original["From"] = "someone@example.com"
    original["Subject"] = "Incident"
    original.set_content(JANE_WORDS[1])
    outer = MIMEMultipart("mixed")
    headers(outer, "Fwd: Incident")
    outer.attach(MIMEText("Hello Eric, for context.", "plain"))
    outer.attach(MIMEMessage(original))
    return outer.as_bytes()


def address_spelled_out() -> bytes:
    return simple("Hello Eric,\n\nyou can write to jane dot doe at example dot org if you want.\n")


def address_in_mailto_link() -> bytes:
    return html_alternative('<p>Hello Eric, you can <a href="mailto:jane.doe@example.org">write to her</a>.</p>')


def name_in_cc_display_name() -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ada Member <{MEMBER}>"
    msg["To"] = "Eric Example <eric@example.com>"
    msg["Cc"] = f'"Jane Doe case" <{CONDUCT}>'
    msg["Subject"] = "Meeting request"
    msg.set_content("Hello Eric, can we talk on Monday?")
    return msg.as_bytes()


def alias_handle() -> bytes:
    return simple("Hello Eric,\n\nthe messages from @janed were screenshotted.\n")


def comma_reversed_name() -> bytes:
    return simple("Hello Eric,\n\nattendees: Doe, Jane; Smith, Bob.\n")


def decomposed_accents() -> bytes:
    return simple("Hello Eric,\n\n" + unicodedata.normalize("NFD", "José Núñez") + " was there too.\n")


def windows_1252_body() -> bytes:
    return raw_message(
        "Subject: Meeting request\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=windows-1252\nContent-Transfer-Encoding: 8bit",
        "Hello Eric,\n\n\u201cI saw it,\u201d said José Núñez \u2013 twice.\n".encode("cp1252"),
    )


def iso_8859_1_body() -> bytes:
    return raw_message(
        "Subject: Meeting request\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit",
        "Bonjour Eric,\n\nmerci à José Núñez.\n".encode("iso-8859-1"),
    )


def alternative_only_html_has_it() -> bytes:
    alternative = MIMEMultipart("alternative")
    headers(alternative)
    alternative.attach(MIMEText("Hello Eric, can we talk on Monday?", "plain", "utf-8"))
    alternative.attach(MIMEText("<p>Hello Eric, can we talk on Monday? (Jane Doe asked.)</p>", "html", "utf-8"))
    return alternative.as_bytes()


def mixed_nested_inside_alternative() -> bytes:
    inner = MIMEMultipart("mixed")
    inner.attach(MIMEText("<div><p>Report by <i>José</i> N&uacute;&ntilde;ez</p></div>", "html", "utf-8"))
    inner.attach(MIMEApplication(b"\x89PNG\r\n\x1a\n\x00\x00\x00binary", "png", Name="photo.png"))
    alternative = MIMEMultipart("alternative")
    headers(alternative)
    alternative.attach(MIMEText("Hello Eric, nothing to see in plain text.", "plain", "utf-8"))
    alternative.attach(inner)
    return alternative.as_bytes()


# id -> (mail, label, surface, form)
LEAKS: dict[str, tuple[Callable[[], bytes], str, str, str]] = {
    "subject": (subject_plain, "reporter #1", "Subject", "name"),
    "subject-rfc2047-b": (subject_rfc2047_b, "reporter #1", "Subject", "name"),
    "subject-rfc2047-q": (subject_rfc2047_q, "harmed person #1", "Subject", "name"),
    "plain-body": (plain_body, "reporter #1", "plain text body", "name"),
    "html-entities": (html_entities, "reporter #1", "HTML body", "name"),
    "html-tags-split-name": (html_tags_splitting_the_name, "reporter #1", "HTML body", "name"),
    "quoted-history-her-words": (
        quoted_history_of_her_words,
        JANE_WORDS[0],
        "plain text body (quoted history)",
        "quoted message",
    ),
    "reply-attribution-line": (reply_attribution_line, "reporter #1", "plain text body", "name"),
    "quoted-printable": (quoted_printable_part, "reporter #1", "plain text body", "name"),
    "base64": (base64_part, "reporter #1", "plain text body", "name"),
    "attachment-name-rfc2231": (attachment_filename_rfc2231, "harmed person #1", "attachment name", "name"),
    "text-attachment": (text_attachment, "reporter #1", "attachment text (notes.txt)", "name"),
    "forwarded-rfc822-headers": (
        forwarded_rfc822_headers,
        "reporter #1",
        "forwarded message (message/rfc822) > From header",
        "address",
    ),
    "forwarded-rfc822-body": (
        forwarded_rfc822_body,
        "reporter #1",
        "forwarded message (message/rfc822) > plain text body",
        "alias",
    ),
    "forwarded-rfc822-her-words": (
        forwarded_rfc822_her_words,
        JANE_WORDS[0],
        "forwarded message (message/rfc822) > plain text body",
        "quoted message",
    ),
    "address-spelled-out": (address_spelled_out, "reporter #1", "plain text body", "obfuscated address"),
    "address-mailto-link": (address_in_mailto_link, "reporter #1", "HTML body (href attribute)", "address"),
    "cc-display-name": (name_in_cc_display_name, "reporter #1", "Cc header", "name"),
    "alias-handle": (alias_handle, "reporter #1", "plain text body", "alias"),
    "comma-reversed-name": (comma_reversed_name, "reporter #1", "plain text body", "name"),
    "decomposed-accents": (decomposed_accents, "harmed person #1", "plain text body", "name"),
    "windows-1252-body": (windows_1252_body, "harmed person #1", "plain text body", "name"),
    "iso-8859-1-body": (iso_8859_1_body, "harmed person #1", "plain text body", "name"),
    "alternative-only-html": (alternative_only_html_has_it, "reporter #1", "HTML body", "name"),
    "mixed-inside-alternative": (mixed_nested_inside_alternative, "harmed person #1", "HTML body", "name"),
}

# Variants carrying a file no reader can read to the end (a PNG's pixels, a PDF that is not one): the
# gate also holds them for that (fail closed) while anyone on the case is still protected.
UNREADABLE = frozenset({"attachment-name-rfc2231", "mixed-inside-alternative"})

# The person each variant discloses (a quotation's label is the message's, not the person's).
OWNER = {"reporter #1": (JANE, JANE_R), JANE_WORDS[0]: (JANE, JANE_R), "harmed person #1": (JOSE, JOSE_R)}


def test_there_are_at_least_twenty_distinct_leak_variants() -> None:
    assert len(LEAKS) >= 20
    assert len({build().decode("utf-8", "replace") for build, *_ in LEAKS.values()}) == len(LEAKS)


@pytest.mark.parametrize("variant", list(LEAKS))
def test_leak_is_held(variant: str) -> None:
    build, label, surface, form = LEAKS[variant]
    decision = evaluate(outgoing(build()))
    assert not decision.allowed
    assert {v.rule for v in decision.violations} == {"reporter-protection"} | (
        {"unread-part"} if variant in UNREADABLE else set()
    )
    protection = [v for v in decision.violations if v.rule == "reporter-protection"]
    expected = f"{form[0].upper()}{form[1:]} found in the {surface}: "
    assert any(expected in v.detail for v in protection), [v.detail for v in protection]
    assert all(label.split("'")[0] in v.summary for v in protection)
    assert all("eric@example.com" in v.detail for v in decision.violations)  # who it would reach
    assert all("/permission" in v.detail for v in protection)  # how to fix it


@pytest.mark.parametrize("variant", list(LEAKS))
def test_leak_passes_once_written_permission_is_recorded(variant: str) -> None:
    build, label, *_ = LEAKS[variant]
    identity, _ = OWNER[label]
    decision = evaluate(outgoing(build(), permitted=frozenset({identity.label})))
    if variant in UNREADABLE:  # the other protected person may be in the unread file: still held for it
        assert {v.rule for v in decision.violations} == {"unread-part"}
    else:
        assert decision == Decision(True, ())


@pytest.mark.parametrize("variant", list(LEAKS))
def test_leak_passes_when_the_only_outside_recipient_is_the_person_themself(variant: str) -> None:
    build, label, *_ = LEAKS[variant]
    _, recipient = OWNER[label]
    decision = evaluate(outgoing(build(), recipients=(recipient,)))
    if variant in UNREADABLE:  # the other protected person may be in the unread file: still held for it
        assert {v.rule for v in decision.violations} == {"unread-part"}
    else:
        assert decision == Decision(True, ())


@pytest.mark.parametrize("variant", list(LEAKS))
def test_leak_summaries_carry_no_name_address_or_text(variant: str) -> None:
    build, *_ = LEAKS[variant]
    for violation in evaluate(outgoing(build())).violations:
        summary = unicodedata.normalize("NFKD", violation.summary).casefold()
        for secret in ("jane", "doe", "jose", "nun", "example", "@", "jdoe42", "sprint", "statement", "notes.txt"):
            assert secret not in summary, violation.summary


@pytest.mark.parametrize("variant", list(LEAKS))
def test_leak_to_committee_members_only_is_not_a_disclosure(variant: str) -> None:
    build, *_ = LEAKS[variant]
    members = (Recipient(MEMBER, "Ada Member"), Recipient(CONDUCT))
    assert evaluate(outgoing(build(), recipients=members)).allowed


# --- more reporter-protection decisions -------------------------------------------------------


CLEAN_HTML = (
    "<p>Hello Eric,</p><p>we received a report about the meetup on <b>Saturday</b> and would like to hear "
    "your side. Could we talk on Monday?</p><blockquote>&gt; Hello, happy to help.</blockquote>"
)


def clean_mail() -> bytes:
    msg = EmailMessage()
    headers(msg, "Request for a conversation")
    msg["Reply-To"] = "conduct+2026-0001.abc@conduct.example"
    msg.set_content(
        "Hello Eric,\n\nwe received a report about the meetup on Saturday and would like to hear your side.\n"
        "Could we talk on Monday?\n\n> Hello, happy to help.\n"
    )
    msg.add_alternative(CLEAN_HTML, subtype="html")
    msg.add_attachment(b"Code of Conduct, section 3.\n", maintype="text", subtype="plain", filename="coc.txt")
    return msg.as_bytes()


def test_a_clean_mail_passes() -> None:
    decision = evaluate(outgoing(clean_mail(), withheld=(ERIC_ID,)))
    assert decision.allowed and decision.violations == ()
    assert decision.explain() == "The policy gate found nothing to hold in this mail.\n"
    assert decision.smtp_lines() == []


def test_a_protected_person_written_to_together_with_others_is_held() -> None:
    msg = EmailMessage()
    msg["From"] = f"Ada Member <{MEMBER}>"
    msg["To"] = "Eric Example <eric@example.com>, Jane Doe <jane.doe@example.org>"
    msg["Subject"] = "Meeting"
    msg.set_content("Hello both, can we meet on Monday?")
    decision = evaluate(outgoing(msg.as_bytes(), recipients=(ERIC, JANE_R)))
    assert not decision.allowed
    assert {(v.rule, v.detail.split(":", 1)[0]) for v in decision.violations} == {
        ("reporter-protection", "Name found in the To header"),
        ("reporter-protection", "Address found in the To header"),
    }
    for violation in decision.violations:
        assert "write to reporter #1 separately" in violation.detail
        assert "It would reach: Eric Example <eric@example.com>\n" in violation.detail  # not Jane herself


def test_quotation_says_which_message_was_quoted() -> None:
    [violation] = evaluate(outgoing(quoted_history_of_her_words())).violations
    assert violation.summary == "words reporter #1 wrote would reach someone outside the committee"
    assert violation.detail.startswith('Quoted message found in the plain text body (quoted history): "At the sprint')
    assert "\nQuoted from: reporter #1's message (diary entry 3)\n" in violation.detail
    assert "must not be quoted, forwarded or attached" in violation.detail


def test_a_bcc_header_left_in_the_mail_is_judged_as_written() -> None:
    msg = EmailMessage()
    headers(msg)
    msg["Bcc"] = "jane.doe@example.org"
    msg.set_content("Hello Eric, can we talk on Monday?")
    decision = evaluate(outgoing(msg.as_bytes(), recipients=(ERIC, JANE_R)))
    assert [v.detail.split(":", 1)[0] for v in decision.violations] == ["Address found in the Bcc header"]


def test_every_readable_header_is_scanned_but_not_signatures() -> None:
    msg = EmailMessage()
    headers(msg)
    msg["DKIM-Signature"] = "v=1; a=rsa-sha256; d=conduct.example; s=s1; b=abc+jdoe42+xyz"
    msg["Comments"] = "Prepared after talking to Jane Doe"
    msg.set_content("Hello Eric.")
    names = visible_header_names(read_message(msg.as_bytes()))
    assert "DKIM-Signature" not in names and "Content-Type" not in names
    assert {"From", "To", "Cc", "Subject", "Comments"} <= set(names)
    decision = evaluate(outgoing(msg.as_bytes()))
    assert [v.detail.split(":", 1)[0] for v in decision.violations] == ["Name found in the Comments header"]


def test_harmed_person_is_protected_and_permission_is_per_person() -> None:
    raw = simple("Hello Eric,\n\nJane Doe and José Núñez were both there.\n")
    decision = evaluate(outgoing(raw, permitted=frozenset({"reporter #1"})))
    assert [v.summary for v in decision.violations] == [
        "harmed person #1's identity (name) would reach someone outside the committee"
    ]
    assert evaluate(outgoing(raw, permitted=frozenset({"reporter #1", "harmed person #1"}))).allowed


def test_the_person_themself_with_another_address_of_theirs_only() -> None:
    two = Identity("reporter #1", names=("Jane Doe",), addresses=("jane.doe@example.org", "JDoe@Work.Example"))
    raw = plain_body()
    out = Outgoing(
        raw=raw,
        top_text="Hello,\n",
        recipients=(Recipient("jdoe@work.example"), JANE_R),
        previous=(Recipient("jdoe@work.example"), JANE_R),
        protected=(Protected(two, ()),),
        insiders=INSIDERS,
    )
    assert evaluate(out).allowed


def test_short_generic_words_of_the_reporter_are_not_a_quotation() -> None:
    out = Outgoing(
        raw=simple("Hello Eric,\n\nThanks!\n"),
        top_text="Hello Eric,\n",
        recipients=(ERIC,),
        previous=(ERIC,),
        protected=(Protected(JANE, (("reporter #1's message (diary entry 9)", "Thanks!"),)),),
        insiders=INSIDERS,
    )
    assert evaluate(out).allowed


# --- withheld identity ------------------------------------------------------------------------


def test_withheld_identity_is_held_from_a_third_party() -> None:
    raw = simple("Hello Wendy,\n\ndid you see what Eric Example (@ericx) did at the sprint?\n")
    decision = evaluate(outgoing(raw, recipients=(WITNESS,), withheld=(ERIC_ID,), top_text="Hello Wendy,\n"))
    assert not decision.allowed
    details = [v.detail for v in decision.violations]
    assert {v.rule for v in decision.violations} == {"withheld-identity"}
    assert any(d.startswith("Name found in the plain text body: ") and "Eric Example" in d for d in details)
    assert any(d.startswith("Alias found in the plain text body: ") for d in details)
    assert all("held back from third parties" in d and "wendy@example.com" in d for d in details)
    # the To header of this mail names Eric: that is a disclosure to Wendy as well
    assert any(d.startswith("Name found in the To header") for d in details)


def test_withheld_identity_written_to_together_with_a_third_party_is_held() -> None:
    decision = evaluate(outgoing(clean_mail(), recipients=(ERIC, WITNESS), withheld=(ERIC_ID,)))
    assert [(v.rule, v.detail.split(":", 1)[0]) for v in decision.violations] == [
        ("withheld-identity", "Name found in the To header"),
        ("withheld-identity", "Address found in the To header"),
    ]
    assert all("write to reported #1 separately" in v.detail for v in decision.violations)
    assert all("It would reach: Wendy Witness <wendy@example.com>\n" in v.detail for v in decision.violations)


def test_withheld_identity_may_reach_the_person_themself_and_insiders() -> None:
    raw = simple("Hello Eric,\n\nwe would like to hear your side, Eric Example.\n")
    assert evaluate(outgoing(raw, recipients=(ERIC,), withheld=(ERIC_ID,))).allowed
    members = (Recipient(MEMBER),)
    assert evaluate(outgoing(raw, recipients=members, withheld=(ERIC_ID,))).allowed
    assert evaluate(outgoing(raw, recipients=(WITNESS,), withheld=())).allowed


# --- the chain and the explanation ------------------------------------------------------------


def test_every_rule_runs_and_all_violations_are_gathered() -> None:
    raw = simple("[+ Nobody Here]\n\nHello Wendy,\n\nJane Doe says Eric Example was rude.\n")
    out = Outgoing(
        raw=raw,
        top_text="[+ Nobody Here]\n\nHello Wendy,\n",
        recipients=(WITNESS,),
        previous=(ERIC,),
        protected=protected(),
        withheld=(ERIC_ID,),
        insiders=INSIDERS,
    )
    decision = evaluate(out)
    rules = [v.rule for v in decision.violations]
    assert set(rules) == {"recipient-markers", "reporter-protection", "withheld-identity"}
    assert rules == sorted(rules, key=["recipient-markers", "reporter-protection", "withheld-identity"].index)
    assert rules.count("recipient-markers") == 3  # the stray marker, Wendy added, Eric removed


def explained_leak() -> Decision:
    long_tail = " and " + "a very long sentence that keeps going " * 30
    raw = simple(f"Hello Eric,\n\nJosé Núñez and 山田太郎 told us{long_tail}\n", subject="Follow-up about Jane Doe")
    yamada = Identity("reporter #2", names=("山田太郎",))
    out = Outgoing(
        raw=raw,
        top_text="Hello Eric,\n",
        recipients=(ERIC,),
        previous=(),
        protected=(*protected(), Protected(yamada)),
        insiders=INSIDERS,
    )
    return evaluate(out)


def test_explain_names_each_rule_the_offending_text_and_the_fix() -> None:
    decision = explained_leak()
    text = decision.explain()
    assert text.startswith(f"The policy gate found {len(decision.violations)} problems in this mail:")
    assert '"Follow-up about Jane Doe"' in text  # the exact offending text
    assert "José Núñez" in text and "山田太郎" in text
    assert "[+ Eric Example]" in text  # the exact line to add (Eric is new: previous was empty)
    assert "[reporter-protection]" in text and "[recipient-markers]" in text
    assert "record it with the permission command (/permission NAME ENTRY" in text


def test_smtp_lines_are_short_ascii_and_carry_the_excerpt_and_the_fix() -> None:
    decision = explained_leak()
    lines = decision.smtp_lines()
    assert lines[0] == f"Held by the policy gate: {len(decision.violations)} problems, nothing was sent."
    for line in lines:
        assert line.isascii() and line.isprintable()
        assert len(line) <= SMTP_LINE_LIMIT and len(f"550-5.7.1 {line}") < 400
    joined = "\n".join(lines)
    assert '"Follow-up about Jane Doe"' in joined
    assert "Jose Nunez" in joined  # accents dropped
    assert "\\u5c71\\u7530" in joined  # other scripts escaped, never dropped silently
    assert "/permission NAME ENTRY" in joined and "[+ Eric Example]" in joined
    assert any(line.startswith("   ") for line in lines)  # details indented under their rule


def test_smtp_lines_wrap_long_details_and_flatten_control_characters() -> None:
    detail = 'Name found in the HTML body: "' + "Jos\u00e9 N\u00fa\u00f1ez\tsaid\r\x00 " * 80 + '"\nFix: remove it.'
    lines = Decision(False, (Violation("reporter-protection", "summary", detail),)).smtp_lines()
    assert len(lines) > 4
    for line in lines:
        assert line.isascii() and line.isprintable() and len(line) <= SMTP_LINE_LIMIT
    assert lines[-1] == "   Fix: remove it."
    assert all(line.startswith("   ") for line in lines[2:])


def test_smtp_lines_are_capped_with_a_count_of_the_rest() -> None:
    many = tuple(Violation("reporter-protection", f"problem {n}", "detail line\n" * 3) for n in range(60))
    lines = Decision(False, many).smtp_lines()
    assert len(lines) <= 100
    shown = sum(1 for line in lines if line.startswith(tuple(f"{n}. " for n in range(1, 61))))
    assert lines[-1] == f"{60 - shown} more problem(s) not shown: fix these and send again to see the rest."


def test_a_caller_may_build_a_decision_of_its_own() -> None:
    extra = Violation("recipients", "this conversation has no outside recipients", "Add one: [+ Name <address>]")
    decision = Decision(False, (*evaluate(outgoing(clean_mail())).violations, extra))
    assert "1. [recipients] this conversation has no outside recipients" in decision.explain()
    assert decision.smtp_lines()[1] == "1. [recipients] this conversation has no outside recipients"
