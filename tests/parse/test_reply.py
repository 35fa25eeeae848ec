"""extract_reply / extract_reply_html / reply_text on small bodies written for these tests.

Each body imitates one client's reply layout; names, addresses and texts are invented.
"""

from __future__ import annotations

import textwrap

import pytest

from mailflow.parse.message import parse_message
from mailflow.parse.reply import extract_reply, extract_reply_html, reply_text


def body(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# ----------------------------------------------------------------------------- top-posting

GMAIL = body(
    """
    Thanks, I will join the call on Friday.

    On Mon, Mar 4, 2024 at 10:15 AM Robin Example <robin@example.org> wrote:

    > Could you attend the committee call?
    >
    > Robin
    """
)

GMAIL_WRAPPED_ATTRIBUTION = body(
    """
    Thanks, I will join the call on Friday.

    On Mon, Mar 4, 2024 at 10:15 AM Robin Example via Conduct Committee <
    conduct+case-12@example.org> wrote:

    > Could you attend the committee call?
    """
)

OUTLOOK_DESKTOP = body(
    """
    I have attached the screenshots.

    ________________________________
    From: Conduct Committee <conduct@example.org>
    Sent: Tuesday, March 5, 2024 9:02 AM
    To: Sam Sender <sam@example.net>
    Subject: RE: Report about the meetup

    Dear Sam,
    could you send us the screenshots you mentioned?
    """
)

# Outlook without a separator line and without In-Reply-To: a bare header block under the text.
OUTLOOK_NO_SEPARATOR = body(
    """
    Yes, that is correct.

    From: Conduct Committee [mailto:conduct@example.org]
    Sent: Tuesday, March 5, 2024 9:02 AM
    To: Sam Sender
    Subject: RE: RE: Report about the meetup

    Is the date of the incident correct?
    """
)

OUTLOOK_ORIGINAL_MESSAGE = body(
    """
    See my answers below the line.

    -----Original Message-----
    From: Conduct Committee <conduct@example.org>
    Sent: Tuesday, March 5, 2024 9:02 AM
    Subject: Report

    Old text.
    """
)

APPLE_MAIL = body(
    """
    I can confirm what Alex wrote.

    > On 5 Mar 2024, at 09:02, Conduct Committee <conduct@example.org> wrote:
    >
    > Can anyone confirm the report?
    """
)

THUNDERBIRD = body(
    """
    I was there as well.

    On 05.03.24 09:02, Conduct Committee wrote:
    > Were you present at the talk?
    """
)

IOS = body(
    """
    I will write more tonight.

    Sent from my iPhone

    > On Mar 5, 2024, at 9:02 AM, Conduct Committee <conduct@example.org> wrote:
    >
    > Thank you for your report.
    """
)

ANDROID = body(
    """
    Received, thanks.

    Sent from my Galaxy

    -------- Original message --------
    From: Conduct Committee <conduct@example.org>
    Date: 05/03/2024 09:02 (GMT+01:00)
    To: Sam Sender <sam@example.net>
    Subject: Your report
    """
)

ANDROID_GMAIL = body(
    """
    Received, thanks.
    On Tue, Mar 5, 2024, 09:02 Conduct Committee <conduct@example.org> wrote:

    > Thank you for your report.
    """
)

SAMSUNG = body(
    """
    I agree to the meeting.

    ---- Conduct Committee wrote ----

    > Would Thursday work?
    """
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(GMAIL, "Thanks, I will join the call on Friday.", id="gmail"),
        pytest.param(GMAIL_WRAPPED_ATTRIBUTION, "Thanks, I will join the call on Friday.", id="gmail-wrapped"),
        pytest.param(OUTLOOK_DESKTOP, "I have attached the screenshots.", id="outlook-desktop"),
        pytest.param(OUTLOOK_NO_SEPARATOR, "Yes, that is correct.", id="outlook-bare-header-block"),
        pytest.param(OUTLOOK_ORIGINAL_MESSAGE, "See my answers below the line.", id="outlook-original-message"),
        pytest.param(APPLE_MAIL, "I can confirm what Alex wrote.", id="apple-mail"),
        pytest.param(THUNDERBIRD, "I was there as well.", id="thunderbird"),
        pytest.param(IOS, "I will write more tonight.", id="ios"),
        pytest.param(ANDROID, "Received, thanks.", id="android"),
        pytest.param(ANDROID_GMAIL, "Received, thanks.", id="android-gmail"),
        pytest.param(SAMSUNG, "I agree to the meeting.", id="samsung"),
    ],
)
def test_client_layouts(raw: str, expected: str) -> None:
    assert extract_reply(raw) == expected


# ------------------------------------------------------------------------- other languages

LANGUAGES = {
    "de-thunderbird": "Am 05.03.2024 um 09:02 schrieb Conduct Committee:",
    "de-gmail": "Conduct Committee <conduct@example.org> schrieb am Di., 5. März 2024, 09:02:",
    "fr-gmail": "Le mar. 5 mars 2024 à 09:02, Conduct Committee <conduct@example.org> a écrit :",
    "fr-apple": "Le 5 mars 2024 à 09:02, Conduct Committee <conduct@example.org> a écrit :",
    "es": "El mar, 5 mar 2024 a las 9:02, Conduct Committee (<conduct@example.org>) escribió:",
    "nl": "Op di 5 mrt 2024 om 09:02 schreef Conduct Committee <conduct@example.org>:",
    "nl-apple": "Op 5 mrt. 2024 om 09:02 heeft Committee <conduct@example.org> het volgende geschreven:",
    "sv": "Den tis 5 mars 2024 kl 09:02 skrev Conduct Committee <conduct@example.org>:",
    "ja": "2024年3月5日(火) 9:02 Conduct Committee <conduct@example.org>:",
    "ja-apple": "2024/03/05 9:02、Conduct Committee <conduct@example.org>のメッセージ:",
    "pl": "W dniu 5.03.2024 o 09:02, Conduct Committee pisze:",
    "ru": "вт, 5 мар. 2024 г. в 09:02, Conduct Committee <conduct@example.org>:",  # noqa: RUF001
    "it": "Il giorno mar 5 mar 2024 alle ore 09:02 Conduct Committee <conduct@example.org> ha scritto:",
    "pt": "Em ter., 5 de mar. de 2024 às 09:02, Conduct Committee <conduct@example.org> escreveu:",
    "zh": "在 2024年3月5日，上午9:02，Conduct Committee <conduct@example.org> 写道：",  # noqa: RUF001
}


@pytest.mark.parametrize("attribution", LANGUAGES.values(), ids=LANGUAGES.keys())
def test_quote_headers_in_many_languages(attribution: str) -> None:
    raw = f"Meine Antwort steht hier.\n\n{attribution}\n\n> Die alte Nachricht.\n> Zweite Zeile.\n"
    assert extract_reply(raw) == "Meine Antwort steht hier."


HEADER_BLOCKS = {
    "de": ("Von: A <a@example.org>", "Gesendet: Dienstag, 5. März 2024 09:02", "An: B", "Betreff: AW: Test"),
    "fr": ("De : A <a@example.org>", "Envoyé : mardi 5 mars 2024 09:02", "À : B", "Objet : RE: Test"),
    "es": (
        "De: A <a@example.org>",
        "Enviado: martes, 5 de marzo de 2024 9:02",
        "Para: B",
        "Asunto: RE: Test",
    ),
    "nl": (
        "Van: A <a@example.org>",
        "Verzonden: dinsdag 5 maart 2024 09:02",
        "Aan: B",
        "Onderwerp: RE: Test",
    ),
    "sv": ("Från: A <a@example.org>", "Skickat: den 5 mars 2024 09:02", "Till: B", "Ämne: SV: Test"),
    "ja": ("差出人: A <a@example.org>", "送信日時: 2024年3月5日 9:02", "宛先: B", "件名: RE: Test"),
    "bold": ("*From:* A <a@example.org>", "*Sent:* Tuesday, March 5, 2024", "*To:* B", "*Subject:* Test"),
}


@pytest.mark.parametrize("block", HEADER_BLOCKS.values(), ids=HEADER_BLOCKS.keys())
def test_outlook_header_blocks_in_many_languages(block: tuple[str, ...]) -> None:
    raw = "Short answer.\n\n" + "\n".join(block) + "\n\nThe previous message.\n"
    assert extract_reply(raw) == "Short answer."


@pytest.mark.parametrize(
    "separator",
    [
        "-----Ursprüngliche Nachricht-----",
        "-------- Message d'origine --------",
        "-----Mensaje original-----",
        "---------- Forwarded message ---------",
        "Begin forwarded message:",
        "*-------- Original Message --------*",
    ],
)
def test_original_message_separators(separator: str) -> None:
    assert extract_reply(f"My note.\n\n{separator}\n\nOlder text.\n") == "My note."


# ------------------------------------------------------------------------------ signatures


@pytest.mark.parametrize(
    "footer",
    [
        "Sent from my iPhone",
        "Sent from my Verizon Wireless BlackBerry",
        "Von meinem iPhone gesendet",
        "Envoyé de mon iPad",
        "Enviado desde mi teléfono",
        "Verzonden vanaf mijn iPhone",
        "Skickat från min iPhone",
        "Get Outlook for Android<https://aka.ms/ghei36>",
        "Sent from Outlook Mobile<https://example.org/outlook>",
    ],
)
def test_mobile_footers_are_removed(footer: str) -> None:
    assert extract_reply(f"On my way.\n\n{footer}\n") == "On my way."


def test_signature_delimiter_removes_the_signature() -> None:
    raw = "See you there.\n\n-- \nSam Sender\nVolunteer coordinator\n+1 555 0100\n"
    assert extract_reply(raw) == "See you there."


def test_mailing_list_footer_under_a_line_is_removed() -> None:
    raw = "My question.\n\n" + "_" * 47 + "\nlist mailing list\nlist@example.org\n"
    assert extract_reply(raw) == "My question."


def test_sentence_starting_like_a_footer_is_kept() -> None:
    raw = "Here it is.\n\nSent from my desk, which is easier than from my phone.\n"
    assert extract_reply(raw) == raw.strip()


def test_sign_offs_are_the_senders_words() -> None:
    raw = "I agree.\n\nBest regards,\nSam\n\nOn Tue, Mar 5, 2024 at 9:02 AM Robin <robin@example.org> wrote:\n> Hi\n"
    assert extract_reply(raw) == "I agree.\n\nBest regards,\nSam"


def test_a_separator_line_inside_a_long_text_is_kept() -> None:
    paragraphs = "\n\n".join(f"Paragraph {n} of my report." for n in range(15))
    raw = f"Part one.\n\n---\n\n{paragraphs}\n"
    assert extract_reply(raw) == raw.strip()


# --------------------------------------------------------------- quotes, interleaving, edges


def test_a_reply_that_is_only_a_quote_is_empty() -> None:
    raw = "On Tue, Mar 5, 2024 at 9:02 AM Robin <robin@example.org> wrote:\n\n> Hello\n> there\n"
    assert extract_reply(raw) == ""


def test_only_quoted_lines_is_empty() -> None:
    assert extract_reply("> a quoted line\n>\n> another\n") == ""


def test_interleaved_answers_keep_the_senders_lines_with_their_context() -> None:
    raw = body(
        """
        On Tue, Mar 5, 2024 at 9:02 AM Robin <robin@example.org> wrote:

        > When did it happen?

        On Saturday evening.

        > Who else was there?

        Two other attendees.

        > Robin
        """
    )
    assert extract_reply(raw) == (
        "> When did it happen?\n\nOn Saturday evening.\n\n> Who else was there?\n\nTwo other attendees."
    )


def test_text_around_a_quote_is_kept() -> None:
    raw = "Hi Robin,\n\n> When did it happen?\n\nOn Saturday evening.\n"
    assert extract_reply(raw) == raw.strip()


def test_bottom_posted_answer_drops_the_quote_above_it() -> None:
    raw = "On 05/03/2024 09:02, Robin wrote:\n> When did it happen?\n\nOn Saturday evening.\n"
    assert extract_reply(raw) == "On Saturday evening."


def test_forward_without_comment_keeps_the_forwarded_text() -> None:
    raw = body(
        """
        ---------- Forwarded message ---------
        From: Someone <someone@example.net>
        Date: Tue, Mar 5, 2024 at 9:02 AM
        Subject: what I received
        To: <sam@example.net>

        The message that was forwarded.
        """
    )
    assert extract_reply(raw) == "The message that was forwarded."


@pytest.mark.parametrize(
    "raw",
    [
        "Hello committee,\n\nI would like to report an incident.\n\n- first point\n- second point\n",
        "Something wrote: this line is the sender's own.\n",
        "On Monday I wrote to the organisers.\nThey did not answer.\n",
        "```\n--\n> not a quote\n```\nthat was code\n",
    ],
    ids=["plain", "something-wrote", "on-monday", "fenced-code"],
)
def test_a_body_without_quotes_is_unchanged(raw: str) -> None:
    assert extract_reply(raw) == raw.strip()


def test_whitespace_is_trimmed_and_line_endings_normalised() -> None:
    raw = "\r\n\r\nLine one   \r\nLine two\t\r\n\r\n\r\n"
    assert extract_reply(raw) == "Line one\nLine two"


def test_empty_input() -> None:
    assert extract_reply("") == ""
    assert extract_reply("\n \n") == ""
    assert extract_reply_html("") == ""


def test_long_quote_and_long_lines_do_not_explode() -> None:
    # Linear time: a 2 MB single-line quote and thousands of attribution-like lines finish promptly.
    assert extract_reply("Top\n> " + ">" * 2_000_000) == "Top"
    assert extract_reply("Top\n" + "On 1 2 <a@example.org>\n" * 5_000).startswith("Top")


# ------------------------------------------------------------------------------------ HTML

GMAIL_HTML = """
<div dir="ltr">Thanks, <b>noted</b>.<br><br>Sam</div>
<div class="gmail_signature">-- <br>Sam Sender, volunteer</div>
<br><div class="gmail_quote"><div class="gmail_attr">On Tue, Mar 5, 2024 at 9:02 AM Robin
&lt;<a href="mailto:robin@example.org">robin@example.org</a>&gt; wrote:<br></div>
<blockquote class="gmail_quote" style="margin:0 0 0 .8ex">Please confirm.</blockquote></div>
"""

OUTLOOK_HTML = """
<html><body><div class="WordSection1"><p class="MsoNormal">Confirmed.</p>
<div style="border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0in 0in 0in">
<p class="MsoNormal"><b>From:</b> Robin &lt;robin@example.org&gt;<br>
<b>Sent:</b> Tuesday, March 5, 2024 9:02 AM<br>
<b>To:</b> Sam<br>
<b>Subject:</b> Meeting</p></div>
<p class="MsoNormal">Please confirm.</p></div></body></html>
"""

THUNDERBIRD_HTML = """
<html><body><p>I was there.</p>
<div class="moz-cite-prefix">On 05.03.24 09:02, Robin wrote:<br></div>
<blockquote type="cite"><p>Were you there?</p>
<blockquote type="cite">Older question</blockquote></blockquote></body></html>
"""


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(GMAIL_HTML, "Thanks, noted.\n\nSam", id="gmail"),
        pytest.param(OUTLOOK_HTML, "Confirmed.", id="outlook"),
        pytest.param(THUNDERBIRD_HTML, "I was there.", id="thunderbird"),
    ],
)
def test_html_replies(html: str, expected: str) -> None:
    assert extract_reply_html(html) == expected


def test_html_interleaved_answer_keeps_the_quote_as_context() -> None:
    html = "<blockquote>When?</blockquote><p>Saturday.</p><blockquote>Where?</blockquote><p>At the venue.</p>"
    assert extract_reply_html(html) == "> When?\n\nSaturday.\n\n> Where?\n\nAt the venue."


# ----------------------------------------------------------------------------- reply_text


def _message(parts: str, content_type: str) -> bytes:
    return (
        "From: Sam Sender <sam@example.net>\r\n"
        "To: conduct@example.org\r\n"
        "Subject: Re: Your report\r\n"
        "Message-ID: <reply-1@example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n"
        "\r\n" + parts
    ).encode()


def test_reply_text_prefers_the_plain_part() -> None:
    parts = (
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPlain answer.\r\n\r\n"
        "On Tue, Mar 5, 2024 at 9:02 AM Robin <robin@example.org> wrote:\r\n> Question?\r\n"
        "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>HTML answer.</p>\r\n--b--\r\n"
    )
    message = parse_message(_message(parts, 'multipart/alternative; boundary="b"'))
    assert reply_text(message) == "Plain answer."


def test_reply_text_uses_html_when_there_is_no_plain_part() -> None:
    html = "<p>Only HTML here.</p><blockquote type=cite>Old text</blockquote>"
    message = parse_message(_message(html, "text/html; charset=utf-8"))
    assert message.html is not None
    assert reply_text(message) == "Only HTML here."
