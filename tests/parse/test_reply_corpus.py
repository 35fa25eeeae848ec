"""Reply extraction against the shared corpus's oracle (../shared/corpus/oracles/reply_text_expected.json).

The oracle maps 192 fixtures of nine reply parsers' test suites to the visible/new text their tests
assert. How each kind of entry is read here (decisions, documented once):

* Header-less ``.txt`` bodies go through ``extract_reply`` after decoding as UTF-8 with
  ``errors="replace"`` (every body in the oracle is UTF-8; the replacement only guards the test).
* Full messages (``.eml``: talon, GitLab, Discourse) go through ``parse_message`` and
  ``reply_text``. Three GitLab/Discourse fixture files begin with an empty line before the
  header, an artefact of how those suites store fixtures (no MTA delivers it, and Ruby's Mail gem
  skips it); leading CR/LF bytes are removed before parsing. ``parse_message`` itself does not
  skip them -- reported to the lead, not worked around in mailflow.
* ``compare == "strip"``: both sides are compared after ``str.strip()``.
  ``compare == "exact"``: equality with the expected text minus its trailing whitespace. Mailflow
  trims trailing whitespace by contract; crisp's first fragments end in "\\n" or "\\n\\n".
* Discourse expectations are Markdown renderings of the post (``**HTML**``, ``*my*``): for the
  ``discourse-email-receiver`` entries, emphasis markers are removed from both sides before
  comparing. Nothing else is normalised.
* Entries whose note says "first fragment" are compared like the others: the first fragment is
  the text above the first quote header or signature, which is what the new text is.
* willdurand's custom-quote-header entries (``email_custom_quote_header*.txt``) need a custom
  regex in their own suite; here they run with the default patterns (Hungarian "írta:" and the
  French header block are general patterns of mailflow.parse.reply).
* willdurand's template fixture ``email_with_date_headers.txt`` (not among the 192) is expanded
  with each of the 17 quote headers listed in ``oracles/reply_expectations.json`` and checked in
  ``test_willdurand_date_header_templates``.

Where the peers disagree with each other, mailflow follows one convention (see the docstring of
mailflow.parse.reply) and the entries of the other convention are listed in KNOWN_MISSES.
"""

from __future__ import annotations

import re
from functools import cache

import pytest

from mailflow.parse.message import parse_message
from mailflow.parse.reply import extract_reply, extract_reply_html, reply_text
from tests.support.corpus import corpus_file, oracle

pytestmark = pytest.mark.corpus

ORACLE = "reply_text_expected.json"

# The share of the 192 entries matched when this list was last settled (182/192 = 94.8%).
FLOOR = 182

KNOWN_MISSES = {
    # Conflicting conventions between the peers' suites.
    "alfonsrv-mail-parser-reply/email_2_1.txt": (
        "mail-parser-reply keeps the Outlook '-----' separator line in the reply; github/zapier "
        "expect 'Outlook with a reply' for the same body, as mailflow returns"
    ),
    "alfonsrv-mail-parser-reply/email_nl_1_2.txt": (
        "same as email_2_1: the Dutch copy keeps the separator line in mail-parser-reply's convention"
    ),
    "discourse-email_reply_trimmer/emails/quote_only.txt": (
        "the trimmer keeps a body that is only a quote; mailflow returns '' (as GitLab's "
        "no_content_reply and the trimmer's own spam_1 expect)"
    ),
    "mailgun-talon/standard_replies/iphone.eml": (
        "talon's extract_from_plain keeps 'Sent from my iPhone'; mailflow removes mobile footers"
    ),
    "mailgun-talon/standard_replies/sparrow.eml": (
        "talon keeps the '-- ' signature block; mailflow removes signatures"
    ),
    "gitlab-incoming-email/inline_reply.eml": (
        "GitLab keeps an attributed quote above a bottom-posted answer; mailflow drops it, as "
        "talon's thunderbird.eml and the trimmer's embedded_email_quote_text expect"
    ),
    "github-email_reply_parser/email_1_1.txt": (
        "github treats the sign-off line '-Abhishek Kona' as a signature; mailflow keeps sign-offs "
        "(crisp's email_1/email_3 expect the same line kept)"
    ),
    "willdurand-EmailReplyParser/email_1.txt": ("same sign-off '-Abhishek Kona' as github's email_1_1"),
    "crisp-email-reply-parser/email_with_regards.txt": (
        "crisp drops 'Regards,' and the name under it; mailflow keeps sign-offs (the trimmer's "
        "embedded_ception, email_headers_5 and embedded_email_swedish expect them kept)"
    ),
    # Not supported.
    "discourse-email_reply_trimmer/emails/embedded_email_7.txt": (
        "supercite-style 'C>' quote prefixes are not recognised as quotes, so the trailing 'C>' "
        "block stays (recognising them would lose embedded_email_1's expectation instead)"
    ),
}

_EMPHASIS = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1|(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])")


def _without_emphasis(text: str) -> str:
    return _EMPHASIS.sub(lambda m: m.group(2) or m.group(3), text)


# Stands for every parameter when the corpus is missing: the test then skips (or, in CI, fails)
# through tests.support.strict.unavailable with the reason, instead of an empty parameter set.
MISSING = "(shared corpus missing)"


def _entries() -> dict[str, dict[str, str]]:
    try:
        return oracle(ORACLE)
    except pytest.skip.Exception:
        return {}


@cache
def extracted(fixture: str) -> str:
    raw = corpus_file(fixture).read_bytes()
    if fixture.endswith(".eml"):
        return reply_text(parse_message(raw.lstrip(b"\r\n")))
    return extract_reply(raw.decode("utf-8", errors="replace"))


def matches(fixture: str, entry: dict[str, str]) -> bool:
    got, expected = extracted(fixture), entry["expected"]
    if fixture.startswith("discourse-email-receiver/"):
        got, expected = _without_emphasis(got), _without_emphasis(expected)
    if entry["compare"] == "strip":
        return got.strip() == expected.strip()
    return got == expected.rstrip()


ENTRIES = _entries()


@pytest.mark.parametrize("fixture", [name for name in ENTRIES if name not in KNOWN_MISSES] or [MISSING])
def test_reply_oracle(fixture: str) -> None:
    entry = oracle(ORACLE)[fixture]
    assert matches(fixture, entry), f"{fixture}: {entry['note'] or entry['from']}"


@pytest.mark.parametrize("fixture", sorted(KNOWN_MISSES))
def test_known_misses_are_still_misses(fixture: str) -> None:
    entries = oracle(ORACLE)
    assert fixture in entries, f"{fixture} is not in the oracle: remove it from KNOWN_MISSES"
    assert not matches(fixture, entries[fixture]), f"{fixture} now matches: remove it from KNOWN_MISSES"


def test_reply_oracle_share() -> None:
    entries = oracle(ORACLE)
    matched = sum(matches(name, entry) for name, entry in entries.items())
    total = len(entries)
    print(f"\nreply oracle: {matched}/{total} matched ({100 * matched / total:.1f}%)")
    assert total == 192
    assert matched >= FLOOR, f"reply oracle regressed: {matched}/{total} < floor {FLOOR}"


def _date_templates() -> list[str]:
    try:
        assertions = oracle("reply_expectations.json")
    except pytest.skip.Exception:
        return [MISSING]
    return [
        item["note"].split("with: ", 1)[1]
        for item in assertions
        if item["fixture"] == "willdurand-EmailReplyParser/email_with_date_headers.txt"
        and item["note"].startswith("TEMPLATE: replace '[DATE]'")
    ]


@pytest.mark.parametrize("header", _date_templates())
def test_willdurand_date_header_templates(header: str) -> None:
    """The fixture's '[DATE]' placeholder replaced by each client/locale quote header of its suite."""
    oracle("reply_expectations.json")
    template = corpus_file("willdurand-EmailReplyParser/email_with_date_headers.txt").read_text("utf-8")
    assert extract_reply(template.replace("[DATE]", header)) == "Thank you very much."


TALON_HTML = (
    "gmail",
    "hotmail",
    "mail_ru",
    "ms_outlook_2003",
    "ms_outlook_2007",
    "ms_outlook_2010",
    "thunderbird",
    "windows_mail",
    "yandex_ru",
)


@pytest.mark.parametrize("client", TALON_HTML)
def test_talon_html_replies(client: str) -> None:
    """talon's HTML replies; its test compares the visible text with all whitespace removed."""
    html = corpus_file(f"mailgun-talon/html_replies/{client}.html").read_bytes().decode("utf-8", "replace")
    assert "".join(extract_reply_html(html).split()) == "Hi.Iamfine.Thanks,Alex"
