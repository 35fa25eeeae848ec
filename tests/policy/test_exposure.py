"""The exposure detector: a protected person's name, address, alias or words in any MIME surface.

Every message is built here with the standard library (no corpus). Each leak test goes through a
different decoding path and asserts both the surface and the form the finding reports.
"""

from __future__ import annotations

import base64
import io
import quopri
import zipfile
from email.header import Header
from email.message import EmailMessage
from email.mime.application import MIMEApplication
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

import pytest

from mailflow.mime.surfaces import read_surfaces
from mailflow.policy.exposure import Exposure, Identity, find_exposures, find_quotations

REPORTER = Identity(
    label="reporter #1",
    names=("Jane Q. Doe",),  # "Jane Doe", "Doe, Jane", "Doe Jane", "J. Doe", "JaneDoe" are derived
    addresses=("jane.doe@example.org",),
    aliases=("@janed", "jdoe42", "JaneD on Discord"),
)
JOSE = Identity(label="witness #2", names=("José Núñez",), addresses=("jose@example.net",))
IDENTITIES = (REPORTER, JOSE)


def scan(
    raw: bytes, identities: tuple[Identity, ...] = IDENTITIES, header_names: tuple[str, ...] = ("Subject",)
) -> list[Exposure]:
    return find_exposures(read_surfaces(raw, header_names).surfaces, identities)


def quotations(raw: bytes, texts: list[tuple[str, str]], **options: int) -> list[Exposure]:
    return find_quotations(read_surfaces(raw).surfaces, texts, **options)


def found(
    raw: bytes, identities: tuple[Identity, ...] = IDENTITIES, header_names: tuple[str, ...] = ("Subject",)
) -> set[tuple[str, str, str]]:
    """(label, surface, form) of every finding."""
    return {(e.label, e.surface, e.form) for e in scan(raw, identities, header_names)}


def raw_message(headers: str, body: bytes | str) -> bytes:
    head = "From: member@conduct.example\nTo: someone@example.com\n" + headers.strip("\n") + "\n\n"
    return head.encode("ascii") + (body.encode("ascii") if isinstance(body, str) else body)


def simple(body: str, subject: str = "Status update") -> bytes:
    msg = EmailMessage()
    msg["From"] = "member@conduct.example"
    msg["To"] = "someone@example.com"
    msg["Subject"] = subject
    msg.set_content(body)
    return msg.as_bytes()


# --- headers ----------------------------------------------------------------------------------


def test_leak_subject_plain() -> None:
    findings = scan(simple("Hello.", subject="Follow-up about Jane Doe"))
    assert findings == [Exposure("reporter #1", "Subject", "name", "Follow-up about Jane Doe")]


def test_leak_subject_rfc2047_base64() -> None:
    encoded = base64.b64encode("Über Jane Doe".encode()).decode()
    raw = raw_message(f"Subject: =?UTF-8?B?{encoded}?=", "Hello.\n")
    assert found(raw) == {("reporter #1", "Subject", "name")}
    assert scan(raw)[0].excerpt == "Über Jane Doe"


def test_leak_subject_rfc2047_q_split_across_two_encoded_words() -> None:
    raw = raw_message("Subject: =?UTF-8?Q?About_Ja?=\n =?UTF-8?Q?ne_Doe?=", "Hello.\n")
    assert found(raw) == {("reporter #1", "Subject", "name")}


def test_leak_subject_mixed_charsets_and_multibyte_char_split_between_words() -> None:
    # "José" in Latin-1, then " Núñez" in UTF-8 with the bytes of "ú" split over two words
    raw = raw_message("Subject: =?ISO-8859-1?Q?Jos=E9?= =?UTF-8?Q?_N=C3?= =?UTF-8?Q?=BA=C3=B1ez?=", "Hi\n")
    findings = scan(raw)
    assert [(e.surface, e.form, e.excerpt) for e in findings] == [("Subject", "name", "José Núñez")]


def test_recipient_headers_are_scanned_only_when_the_caller_asks() -> None:
    raw = raw_message("Cc: Jane Doe <jane.doe@example.org>\nSubject: hi", "Hello.\n")
    assert found(raw) == set()
    assert found(raw, header_names=("Subject", "Cc")) == {
        ("reporter #1", "Cc header", "name"),
        ("reporter #1", "Cc header", "address"),
    }


# --- plain text bodies ------------------------------------------------------------------------


def test_leak_plain_body_7bit() -> None:
    assert found(simple("The report from Jane Doe came in on Monday.")) == {("reporter #1", "plain text body", "name")}


def test_leak_quoted_printable_soft_line_break_inside_name() -> None:
    raw = raw_message(
        "Subject: hi\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable",
        "We spoke with Ja=\nne Doe yesterday.\n",
    )
    findings = scan(raw)
    assert [(e.surface, e.form) for e in findings] == [("plain text body", "name")]
    assert "Jane Doe" in findings[0].excerpt


def test_leak_base64_utf8_body() -> None:
    body = base64.encodebytes("Le témoignage de José Núñez est joint.\n".encode()).decode()
    raw = raw_message("Subject: hi\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64", body)
    assert found(raw) == {("witness #2", "plain text body", "name")}


def test_leak_iso_8859_1_8bit_body_with_accented_name() -> None:
    raw = raw_message(
        "Subject: hi\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit",
        "Merci à José Núñez.\n".encode("iso-8859-1"),
    )
    findings = scan(raw)
    assert [(e.surface, e.form, e.excerpt) for e in findings] == [("plain text body", "name", "Merci à José Núñez.")]


def test_unknown_charset_does_not_crash_and_falls_back() -> None:
    raw = raw_message(
        "Subject: hi\nContent-Type: text/plain; charset=x-made-up-charset\nContent-Transfer-Encoding: 8bit",
        "Notes on José Núñez".encode(),
    )
    assert found(raw) == {("witness #2", "plain text body", "name")}


def test_diacritics_are_folded_both_ways() -> None:
    assert found(simple("Jose Nunez was there.")) == {("witness #2", "plain text body", "name")}
    unaccented = Identity("reporter #3", names=("Zoe Lindstrom",))
    assert found(simple("ZOË LINDSTRÖM called."), identities=(unaccented,)) == {
        ("reporter #3", "plain text body", "name")
    }


def test_leak_decomposed_unicode_name() -> None:
    assert found(simple("Jose\u0301 Nu\u0301n\u0303ez was there.")) == {("witness #2", "plain text body", "name")}


def test_leak_quoted_history() -> None:
    body = "Thanks, noted.\n\nOn Mon, someone wrote:\n> I talked to Jane Doe after the meetup.\n"
    assert found(simple(body)) == {("reporter #1", "plain text body (quoted history)", "name")}


def test_leak_name_wrapped_across_nested_quoted_lines() -> None:
    body = "Agreed.\n\n>> and then Jane\n>> Doe told us what happened\n"
    findings = scan(simple(body))
    assert [(e.surface, e.form) for e in findings] == [("plain text body (quoted history)", "name")]
    assert "Jane\n>> Doe" in findings[0].excerpt


def test_leak_forwarded_inline_with_from_line() -> None:
    body = (
        "FYI, see below.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Jane Doe <jane.doe@example.org>\n"
        "Date: Mon, 2 Nov 2026 10:00:00 +0000\n"
        "Subject: what happened\n\n"
        "Hello committee.\n"
    )
    assert found(simple(body)) == {
        ("reporter #1", "plain text body (forwarded inline)", "name"),
        ("reporter #1", "plain text body (forwarded inline)", "address"),
    }


def test_leak_zero_width_space_and_soft_hyphen_inside_name() -> None:
    assert found(simple("We met Ja\u200bne D\u00adoe today.")) == {("reporter #1", "plain text body", "name")}


def test_leak_non_breaking_space_and_line_break_between_name_words() -> None:
    assert found(simple("We met Jane\u00a0Doe and later Jane\nDoe.")) == {("reporter #1", "plain text body", "name")}


def test_leak_last_comma_first_form() -> None:
    findings = scan(simple("Attendees: Doe, Jane; Smith, Bob"))
    assert [(e.surface, e.form) for e in findings] == [("plain text body", "name")]
    assert "Doe, Jane" in findings[0].excerpt


@pytest.mark.parametrize(
    "body",
    [
        "J. Doe asked for an update.",  # an initial with the surname
        "J Doe asked for an update.",
        "As J.Doe said on Monday.",
        "DOE Jane asked for an update.",  # surname first, no comma
        "Doe Jane asked for an update.",
        "Ask JaneDoe about it.",  # run together
        "ask @janedoe about it",
        "J a n e  D o e asked for an update.",  # letter-spaced
        "J-a-n-e D-o-e asked for an update.",
        "JANE DOE",
    ],
)
def test_leak_names_as_people_write_them(body: str) -> None:
    # Given the reporter recorded as "Jane Q. Doe"
    # Then every way people write that name is found, in any case and spacing
    assert ("reporter #1", "plain text body") in {(label, surface) for label, surface, _ in found(simple(body))}


@pytest.mark.parametrize(
    "body",
    [
        "a doe came out of the woods",  # an article, not an initial
        "Jan Doering wrote",  # another person
        "janedoering",
        "J. Does",
        "Ask Jane about the document",
        "Dear j. doe team",  # an initial is a capital letter
    ],
)
def test_names_are_not_found_in_other_words(body: str) -> None:
    assert found(simple(body)) == set()


def test_leak_cyrillic_homoglyph_inside_name() -> None:
    assert found(simple("We met J\u0430ne Doe today.")) == {("reporter #1", "plain text body", "name")}


# --- addresses --------------------------------------------------------------------------------


def test_leak_plain_address_in_body() -> None:
    findings = scan(simple("Her address is jane.doe@example.org if needed."))
    assert [(e.surface, e.form) for e in findings] == [("plain text body", "address")]
    assert "jane.doe@example.org" in findings[0].excerpt


@pytest.mark.parametrize(
    "written",
    [
        "jane dot doe at example dot org",
        "jane.doe [at] example [dot] org",
        "jane.doe(at)example(dot)org",
        "jane.doe @ example . org",
        "jane.doe\uff20example.org",  # full-width commercial at
        "JANE.DOE AT EXAMPLE DOT ORG",
        "jane.doe-at-example.org",
    ],
    ids=[
        "at-dot-words",
        "bracketed-at",
        "parenthesised-at",
        "spaced-at",
        "fullwidth-at",
        "upper-case",
        "dash-at",
    ],
)
def test_leak_obfuscated_address(written: str) -> None:
    findings = scan(simple(f"You can reach her: {written} (please keep private)"))
    assert [(e.surface, e.form) for e in findings] == [("plain text body", "obfuscated address")]
    assert written in findings[0].excerpt


def test_leak_percent_encoded_address_in_plain_text_url() -> None:
    findings = scan(simple("https://forms.example/?email=jane.doe%40example.org"))
    assert [(e.surface, e.form) for e in findings] == [("plain text body", "obfuscated address")]


# --- aliases ----------------------------------------------------------------------------------


def test_leak_alias_handle_with_and_without_sigil() -> None:
    assert found(simple("The messages from @janed were screenshotted.")) == {
        ("reporter #1", "plain text body", "alias")
    }
    assert found(simple("Posted by jdoe42 on the forum.")) == {("reporter #1", "plain text body", "alias")}


def test_leak_alias_recorded_with_platform_matches_bare_handle() -> None:
    only_discord = Identity("reporter #1", aliases=("JaneD on Discord",))
    assert found(simple("JaneD posted the screenshots."), identities=(only_discord,)) == {
        ("reporter #1", "plain text body", "alias")
    }


# --- HTML -------------------------------------------------------------------------------------


def html_message(html: str, plain: str = "See the HTML part.") -> bytes:
    msg = EmailMessage()
    msg["Subject"] = "Update"
    msg.set_content(plain)
    msg.add_alternative(html, subtype="html")
    return msg.as_bytes()


def test_leak_html_entity_encoded_letters() -> None:
    findings = scan(html_message("<p>Thanks to &#74;ane&nbsp;D&#x6F;e &amp; others</p>"))
    assert [(e.surface, e.form) for e in findings] == [("HTML body", "name")]
    assert "Jane\u00a0Doe" in findings[0].excerpt


@pytest.mark.parametrize(
    "markup",
    ["<p>J<b>ane</b> Doe</p>", "<span>Jane</span> <span>Doe</span>", "<td>Jane</td><td>Doe</td>"],
    ids=["bold-inside-word", "spans", "table-cells"],
)
def test_leak_html_tags_splitting_the_name(markup: str) -> None:
    assert found(html_message(markup)) == {("reporter #1", "HTML body", "name")}


def test_leak_html_mailto_href_only() -> None:
    findings = scan(html_message('<p>Contact <a href="mailto:jane.doe%40example.org">her</a>.</p>'))
    assert [(e.surface, e.form) for e in findings] == [("HTML body (href attribute)", "obfuscated address")]
    assert findings[0].excerpt == "mailto:jane.doe@example.org"
    plain_href = scan(html_message('<a href="mailto:jane.doe@example.org">her</a>'))
    assert [(e.surface, e.form) for e in plain_href] == [("HTML body (href attribute)", "address")]


def test_leak_html_title_and_alt_attributes() -> None:
    markup = '<abbr title="Jane Doe">the reporter</abbr> <img alt="photo of jdoe42" src="cid:x">'
    assert found(html_message(markup)) == {
        ("reporter #1", "HTML body (title attribute)", "name"),
        ("reporter #1", "HTML body (alt attribute)", "alias"),
    }


def test_leak_html_comment() -> None:
    assert found(html_message("<p>Hello</p><!-- draft: ask Jane Doe first -->")) == {
        ("reporter #1", "HTML body (comment)", "name")
    }


def test_html_style_and_script_content_is_read() -> None:
    # Decision: whatever the source of the mail shows, a recipient can read (view source, a script
    # that writes it): a name in a style sheet or a script is a disclosure like any other.
    markup = "<style>.Jane.Doe { color: red }</style><script>var jdoe42 = 1;</script><p>Hello</p>"
    assert found(html_message(markup)) == {
        ("reporter #1", "HTML body (style)", "name"),
        ("reporter #1", "HTML body (script)", "alias"),
    }
    assert found(html_message("<style>p { color: red }</style><script>var x = 1;</script><p>Hello</p>")) == set()


def test_leak_html_quoted_reply_with_gt_entities() -> None:
    markup = "<p>OK</p><p>&gt; we heard from Jane<br>&gt; Doe that</p>"
    assert found(html_message(markup)) == {("reporter #1", "HTML body (quoted history)", "name")}


def test_leak_nested_multipart_mixed_alternative_html() -> None:
    outer = MIMEMultipart("mixed")
    outer["Subject"] = "Update"
    alternative = MIMEMultipart("alternative")
    alternative.attach(MIMEText("Nothing to see here.", "plain", "utf-8"))
    alternative.attach(MIMEText("<div><p>Report by <i>José</i> N&uacute;&ntilde;ez</p></div>", "html", "utf-8"))
    outer.attach(alternative)
    outer.attach(MIMEApplication(b"%PDF-1.4 \x00\x01\x02 binary", Name="minutes.pdf"))
    assert found(outer.as_bytes()) == {("witness #2", "HTML body", "name")}


# --- attachments ------------------------------------------------------------------------------


def test_leak_attachment_filename_plain() -> None:
    msg = EmailMessage()
    msg["Subject"] = "Files"
    msg.set_content("Attached.")
    msg.add_attachment(b"%PDF-1.4\x00\x00binary", maintype="application", subtype="pdf", filename="Jane Doe.pdf")
    assert found(msg.as_bytes()) == {("reporter #1", "attachment name", "name")}


def test_leak_attachment_filename_rfc2231_continuations() -> None:
    raw = raw_message(
        'Subject: files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"',
        "--b1\nContent-Type: text/plain\n\nAttached.\n"
        "--b1\nContent-Type: application/octet-stream\n"
        "Content-Disposition: attachment; filename*0*=utf-8''statement%20Jos%C3%A9%20;\n"
        " filename*1*=N%C3%BA%C3%B1ez.bin\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"\x00\x01\x02\x03" * 10).decode()
        + "--b1--\n",
    )
    findings = scan(raw)
    assert [(e.surface, e.form) for e in findings] == [("attachment name", "name")]
    assert findings[0].excerpt == "statement José Núñez.bin"


def test_leak_attachment_filename_rfc2047_encoded() -> None:
    encoded = Header("Jane Doe notes.bin", "utf-8").encode()
    raw = raw_message(
        'Subject: files\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"',
        "--b1\nContent-Type: text/plain\n\nAttached.\n"
        "--b1\nContent-Type: application/octet-stream\n"
        f'Content-Disposition: attachment; filename="{encoded}"\n'
        "Content-Transfer-Encoding: base64\n\nAAECAw==\n--b1--\n",
    )
    assert found(raw) == {("reporter #1", "attachment name", "name")}


def test_leak_text_attachment_base64() -> None:
    msg = EmailMessage()
    msg["Subject"] = "Notes"
    msg.set_content("Notes attached.")
    msg.add_attachment(b"Interview notes\nJane Doe said the following.\n", maintype="text",
                       subtype="plain", filename="notes.txt", cte="base64")  # fmt: skip
    assert found(msg.as_bytes()) == {("reporter #1", "attachment text (notes.txt)", "name")}


def test_leak_octet_stream_attachment_that_decodes_as_text() -> None:
    msg = EmailMessage()
    msg["Subject"] = "Log"
    msg.set_content("Log attached.")
    msg.add_attachment(b"12:00 <jdoe42> hello\n12:01 <bob> hi\n", maintype="application",
                       subtype="octet-stream", filename="chat.log")  # fmt: skip
    assert found(msg.as_bytes()) == {("reporter #1", "attachment text (chat.log)", "alias")}


def test_binary_attachment_is_not_read_as_text() -> None:
    msg = EmailMessage()
    msg["Subject"] = "Image"
    msg.set_content("Image attached.")
    msg.add_attachment(b"\x89PNG\r\n\x1a\n\x00\x00Jane Doe\x00\x00" * 3, maintype="image", subtype="png",
                       filename="screenshot.png")  # fmt: skip
    assert found(msg.as_bytes()) == set()


def test_leak_office_document_text_split_across_runs_and_its_author() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as docx:
        docx.writestr(
            "word/document.xml",
            '<w:document xmlns:w="w"><w:body><w:p><w:r><w:t>Statement by Ja</w:t></w:r>'
            "<w:r><w:t>ne Doe</w:t></w:r></w:p><w:p><w:r><w:t>Next paragraph</w:t></w:r></w:p></w:body>"
            "</w:document>",
        )
        docx.writestr("docProps/core.xml", "<cp:coreProperties><dc:creator>jdoe42</dc:creator></cp:coreProperties>")
    msg = EmailMessage()
    msg["Subject"] = "Doc"
    msg.set_content("Attached.")
    msg.add_attachment(buffer.getvalue(), maintype="application",
                       subtype="vnd.openxmlformats-officedocument.wordprocessingml.document",
                       filename="statement.docx")  # fmt: skip
    # Then the name split over runs is found in the document's text, and the alias in its author
    findings = found(msg.as_bytes())
    assert ("reporter #1", "name") in {
        (label, form) for label, surface, form in findings if "word/document.xml" in surface
    }
    assert ("reporter #1", "alias") in {
        (label, form) for label, surface, form in findings if "docProps/core.xml" in surface
    }
    assert all("statement.docx" in surface for _, surface, _ in findings)


# --- forwarded messages -----------------------------------------------------------------------


def forwarded_original() -> EmailMessage:
    original = EmailMessage()
    original["From"] = "Jane Doe <jane.doe@example.org>"
    original["To"] = "conduct@conduct.example"
    original["Subject"] = "Incident at the sprint"
    original.set_content("Hello, I would like to report something.")
    return original


def test_leak_forwarded_rfc822_from_header() -> None:
    outer = MIMEMultipart("mixed")
    outer["Subject"] = "Fwd: Incident at the sprint"
    outer.attach(MIMEText("See attached.", "plain"))
    outer.attach(MIMEMessage(forwarded_original()))
    assert found(outer.as_bytes()) == {
        ("reporter #1", "forwarded message (message/rfc822) > From header", "name"),
        ("reporter #1", "forwarded message (message/rfc822) > From header", "address"),
    }


def test_leak_forwarded_rfc822_subject_and_body_recursively() -> None:
    inner = EmailMessage()
    inner["From"] = "someone@example.com"
    inner["Subject"] = "Re: José Núñez"
    inner.set_content("Body mentions @janed.")
    middle = MIMEMultipart("mixed")
    middle["From"] = "other@example.com"
    middle.attach(MIMEText("forwarding again", "plain"))
    middle.attach(MIMEMessage(inner))
    outer = MIMEMultipart("mixed")
    outer.attach(MIMEMessage(middle))
    prefix = "forwarded message (message/rfc822) > forwarded message (message/rfc822) > "
    assert found(outer.as_bytes()) == {
        ("witness #2", prefix + "Subject", "name"),
        ("reporter #1", prefix + "plain text body", "alias"),
    }


def test_leak_eml_attachment_sent_as_octet_stream() -> None:
    msg = EmailMessage()
    msg["Subject"] = "Original attached"
    msg.set_content("Attached the original.")
    msg.add_attachment(forwarded_original().as_bytes(), maintype="application", subtype="octet-stream",
                       filename="original.eml")  # fmt: skip
    assert found(msg.as_bytes()) == {
        ("reporter #1", "forwarded message (application/octet-stream) > From header", "name"),
        ("reporter #1", "forwarded message (application/octet-stream) > From header", "address"),
    }


def test_leak_inside_multipart_signed() -> None:
    body = quopri.encodestring(b"Summary: Jane Doe will not attend.\n").decode()
    raw = raw_message(
        "Subject: signed\nMIME-Version: 1.0\n"
        'Content-Type: multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256;\n'
        ' boundary="s"',
        '--s\nContent-Type: multipart/mixed; boundary="m"\n\n'
        "--m\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n"
        f"{body}\n--m--\n\n"
        '--s\nContent-Type: application/pgp-signature; name="signature.asc"\n\n'
        "-----BEGIN PGP SIGNATURE-----\niQEzBAEBCAAdFiEE\n-----END PGP SIGNATURE-----\n--s--\n",
    )
    assert found(raw) == {("reporter #1", "plain text body", "name")}


def test_leak_in_mime_preamble() -> None:
    raw = raw_message(
        'Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
        "Note to self: Jane Doe\n--b\nContent-Type: text/plain\n\nhello\n--b--\n",
    )
    assert found(raw) == {("reporter #1", "MIME preamble", "name")}


# --- things that must not be reported ---------------------------------------------------------


def test_clean_status_update_has_no_findings() -> None:
    body = (
        "Hello,\n\nThe committee reviewed the report received last week and has reached a decision.\n"
        "We will follow up with the people involved. Please write to conduct@conduct.example.\n\n"
        "> Thanks for the update, looking forward to it.\n"
    )
    assert scan(html_message("<p>The committee reviewed the report.</p>", plain=body)) == []


def test_short_name_does_not_match_inside_other_words() -> None:
    ann = Identity("reporter #4", names=("Ann",), aliases=("jd",))
    body = "Annual planning: Joanne and Annabel use the jdk; ANNEX attached."
    assert found(simple(body, subject="Annual planning"), identities=(ann,)) == set()
    assert found(simple("Ann said so; ask JD."), identities=(ann,)) == {
        ("reporter #4", "plain text body", "name"),
        ("reporter #4", "plain text body", "alias"),
    }


def test_other_person_sharing_the_first_name_is_not_reported() -> None:
    body = "Jane Smith will chair the meeting; Jane asked for the agenda. John Doe sent regrets."
    assert found(simple(body)) == set()


def test_conduct_address_and_lookalike_addresses_are_not_reported() -> None:
    address_only = Identity("reporter #1", addresses=("jane.doe@example.org",))
    body = (
        "Write to conduct@example.org or to doe@example.org, or xjane.doe@example.org, "
        "or jane.doe@example.org.uk, or jane.doe@example.organic, or jane.doe@sub.example.com."
    )
    assert found(simple(body), identities=(address_only,)) == set()
    # with the name recorded, "jane.doe" inside another address is still the name: reported as such
    assert found(simple("Write to conduct@example.org or xjane.doe@example.org.")) == set()
    assert found(simple("Try jane.doe@example.org.uk")) == {("reporter #1", "plain text body", "name")}


def test_malformed_message_missing_closing_boundary_is_still_scanned() -> None:
    raw = raw_message(
        'Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"',
        "--b\nContent-Type: text/plain\n\nFirst part.\n"
        "--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: base64\n\n"
        + base64.encodebytes(b"Report by Jane Doe").decode(),  # no closing --b--
    )
    assert found(raw) == {("reporter #1", "plain text body", "name")}
    clean = raw.replace(base64.encodebytes(b"Report by Jane Doe"), base64.encodebytes(b"Report filed"))
    assert scan(clean) == []


def test_malformed_message_with_missing_start_boundary_and_garbage_does_not_crash() -> None:
    raw = raw_message(
        'Subject: =?bogus?Q?broken=?=\nContent-Type: multipart/mixed; boundary="nope"\n'
        "Content-Transfer-Encoding: base64",
        b"this is not base64 nor MIME \xff\xfe\x00 Jane Doe\n--other\n",
    )
    assert found(raw) == {("reporter #1", "plain text body", "name")}
    assert scan(b"") == [] and scan(b"\x00\xff garbage") == []


def test_label_never_carries_the_name() -> None:
    for exposure in scan(simple("Jane Doe, jane.doe@example.org, @janed")):
        assert exposure.label == "reporter #1"


# --- quotations -------------------------------------------------------------------------------

PROTECTED = (
    "reporter #1's message of 2026-11-02",
    "At the sprint on Saturday he kept interrupting me and made comments about my accent in front "
    "of the whole table. When I asked him to stop he laughed and said I was too sensitive.",
)


def quoted(text: str, width: int, prefix: str = "> ") -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(prefix + line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, prefix + line])


def test_quotation_quoted_with_gt_prefix() -> None:
    body = "Thanks, we will look into it.\n\nOn Nov 2, someone wrote:\n" + quoted(PROTECTED[1], 60)
    findings = quotations(simple(body), [PROTECTED])
    assert [(e.label, e.surface, e.form) for e in findings] == [
        (PROTECTED[0], "plain text body (quoted history)", "quoted message")
    ]
    assert findings[0].excerpt.startswith("At the sprint")


def test_quotation_rewrapped_recased_and_repunctuated() -> None:
    excerpt = "he kept interrupting me -- and made COMMENTS about my accent, in front of\nthe whole table"
    findings = quotations(simple(f"Summary for the team: {excerpt}."), [PROTECTED])
    assert [(e.surface, e.form) for e in findings] == [("plain text body", "quoted message")]


def test_quotation_inside_html_blockquote() -> None:
    markup = f"<p>See below</p><blockquote><p>{PROTECTED[1][:120]}</p></blockquote>"
    findings = quotations(html_message(markup), [PROTECTED])
    assert [(e.surface, e.form) for e in findings] == [("HTML body", "quoted message")]


def test_quotation_inside_forwarded_rfc822_part() -> None:
    original = EmailMessage()
    original["Subject"] = "Incident"
    original.set_content(PROTECTED[1])
    outer = MIMEMultipart("mixed")
    outer.attach(MIMEText("Forwarding for context.", "plain"))
    outer.attach(MIMEMessage(original))
    findings = quotations(outer.as_bytes(), [PROTECTED])
    assert [(e.surface, e.form) for e in findings] == [
        ("forwarded message (message/rfc822) > plain text body", "quoted message")
    ]


def test_quotation_of_only_five_words_is_not_reported() -> None:
    body = "He kept interrupting me, which we will discuss at the sprint on Saturday."
    assert quotations(simple(body), [PROTECTED]) == []


def test_short_protected_text_is_caught_when_quoted_whole() -> None:
    short = ("reporter #1's reply", "Please do not tell him.")
    assert quotations(simple("She wrote: please do NOT tell him!"), [short])[0].form == "quoted message"
    assert quotations(simple("Please do not tell them."), [short]) == []


# --- more paths and decisions -----------------------------------------------------------------


def test_leak_derived_forms_middle_initial_and_umlaut_transliteration() -> None:
    muller = Identity("harmed person #1", names=("Jürgen Müller",))
    assert found(simple("Juergen Mueller and Jurgen Muller and Jürgen K. Müller"), identities=(muller,)) == {
        ("harmed person #1", "plain text body", "name")
    }
    assert len(scan(simple("Juergen Mueller, then Jurgen Muller, then Jürgen K. Müller"), identities=(muller,))) == 3


def test_leak_name_in_script_without_spaces() -> None:
    yamada = Identity("reporter #5", names=("山田 太郎",))
    assert found(simple("山田太郎さんから連絡がありました。"), identities=(yamada,)) == {
        ("reporter #5", "plain text body", "name")
    }


def test_leak_calendar_invite_with_folded_attendee_line() -> None:
    ics = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Follow-up call\r\n"
        "ATTENDEE;CN=Jane D\r\n oe:mailto:someone@example.com\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    msg = EmailMessage()
    msg["Subject"] = "Invitation"
    msg.set_content("Invitation attached.")
    msg.add_attachment(ics, subtype="calendar", filename="invite.ics")
    assert found(msg.as_bytes()) == {("reporter #1", "attachment text (invite.ics)", "name")}


def test_leak_html_attachment() -> None:
    msg = EmailMessage()
    msg["Subject"] = "Page"
    msg.set_content("Saved page attached.")
    msg.add_attachment("<html><body><p>Posted by <b>jdoe</b>42</p></body></html>", subtype="html",
                       filename="thread.html")  # fmt: skip
    assert found(msg.as_bytes()) == {("reporter #1", "attachment text (thread.html)", "alias")}


def test_too_deeply_nested_message_falls_back_to_scanning_the_raw_text() -> None:
    head = "".join(f'Content-Type: multipart/mixed; boundary="b{i}"\n\n--b{i}\n' for i in range(60))
    raw = raw_message("Subject: nested\n" + head, "Content-Type: text/plain\n\nReport by Jane Doe\n")
    assert ("reporter #1", "raw message (could not be taken apart)", "name") in found(raw)


def test_quotation_min_words_must_be_positive() -> None:
    with pytest.raises(ValueError):
        quotations(simple("x"), [PROTECTED], min_words=0)


# --- phone numbers ----------------------------------------------------------------------------

PHONE = Identity("reporter #1", names=("Jane Doe",), aliases=("+44 20 7946 0958",))


@pytest.mark.parametrize(
    "written",
    ["+44 20 7946 0958", "+44 (0)20 7946 0958", "020 7946 0958", "0044 20 7946 0958", "020-7946-0958",
     "(020) 7946 0958", "2079460958", "+44.20.7946.0958", "call 020 7946 0958!"],
)  # fmt: skip
def test_a_phone_number_on_file_is_found_however_it_is_written(written: str) -> None:
    findings = scan(simple(f"You can reach her at {written} any time."), identities=(PHONE,))
    assert [(e.label, e.form) for e in findings] == [("reporter #1", "phone number")]


@pytest.mark.parametrize("written", ["020 7946 0959", "+1 20 7946 0958 7", "7946 0958", "invoice 1207946095812"])
def test_other_numbers_are_not_that_phone_number(written: str) -> None:
    assert scan(simple(f"Reference: {written}."), identities=(PHONE,)) == []


def test_a_national_number_on_file_without_country_code() -> None:
    local = Identity("reporter #1", aliases=("030 1234567",))
    assert [e.form for e in scan(simple("Ruf an: 0301234567"), identities=(local,))] == ["phone number"]
    assert [e.form for e in scan(simple("Ruf an: 030/123 45 67"), identities=(local,))] == ["phone number"]


def test_a_short_number_is_not_treated_as_a_phone_number() -> None:
    # An alias of digits too short to be a phone number is an ordinary alias ("4711" as a handle)
    handle = Identity("reporter #1", aliases=("4711",))
    assert [e.form for e in scan(simple("user 4711 wrote"), identities=(handle,))] == ["alias"]
