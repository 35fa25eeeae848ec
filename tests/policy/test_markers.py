"""Recipient-change markers: parsing, applying them, and the ``recipient-markers`` rule through ``evaluate``.

"If adding or removing people from the recipients list of an email thread, note the change at the
top of the email, like this: [+ John] [- Eric]" (django-communications-guidelines.md lines 12-17).
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from mailflow.policy.gate import evaluate
from mailflow.policy.markers import Marker, Markers, apply_markers, parse_markers
from mailflow.policy.outgoing import Decision, Outgoing, Recipient, Violation


def signs(text: str) -> list[tuple[str, str, str | None]]:
    return [(m.sign, m.name, m.address) for m in parse_markers(text).markers]


# --- parsing ----------------------------------------------------------------------------------


def test_the_guidelines_example() -> None:
    parsed = parse_markers("[+ John]\n[- Eric]\n\nHello both,\nthanks.\n")
    assert parsed == Markers(
        (Marker("+", "John", None, "[+ John]"), Marker("-", "Eric", None, "[- Eric]")),
        "Hello both,\nthanks.\n",
    )


@pytest.mark.parametrize(
    "line",
    ["[+John]", "[ + John ]", "[+   John]", "  [+ John]  ", "[\u00a0+\u00a0John\u00a0]", "[\uff0b John]"],
    ids=["no-space", "spaces-inside", "many-spaces", "indented", "no-break-spaces", "fullwidth-plus"],
)
def test_spacing_is_forgiving(line: str) -> None:
    assert signs(f"{line}\nHello.\n") == [("+", "John", None)]


@pytest.mark.parametrize("dash", ["-", "\u2212", "\u2013", "\u2014", "\uff0d"])
def test_minus_may_be_a_dash_made_by_smart_punctuation(dash: str) -> None:
    assert signs(f"[{dash} Eric]\nHello.\n") == [("-", "Eric", None)]


def test_names_keep_their_spelling_and_spacing_is_normalised() -> None:
    assert signs("[+  john   SMITH ]\n") == [("+", "john SMITH", None)]


@pytest.mark.parametrize(
    ("content", "name", "address"),
    [
        ("John Smith <John.Smith@X.org>", "John Smith", "john.smith@x.org"),
        ("eric@x.org", "", "eric@x.org"),
        ("<eric@x.org>", "", "eric@x.org"),
        ("mailto:eric@x.org", "", "eric@x.org"),
        ("eric@x.org <mailto:eric@x.org>", "", "eric@x.org"),
        ("John Smith <mailto:john@x.org>", "John Smith", "john@x.org"),
        ("John Smith john@x.org", "John Smith", "john@x.org"),
        ("John Smith (john@x.org)", "John Smith", "john@x.org"),
        ('"Doe, Jane" <jane@x.org>', "Doe, Jane", "jane@x.org"),
    ],
)
def test_addresses_in_every_usual_shape(content: str, name: str, address: str) -> None:
    assert signs(f"[+ {content}]\n\nHello.\n") == [("+", name, address)]


def test_commas_and_semicolons_separate_people_outside_quotes_and_angle_brackets() -> None:
    assert signs("[+ John, Eric; mia@x.org]\n") == [("+", "John", None), ("+", "Eric", None), ("+", "", "mia@x.org")]
    assert signs('[+ "Smith, John" <john@x.org>, Eric <eric@x.org>]\n') == [
        ("+", "Smith, John", "john@x.org"),
        ("+", "Eric", "eric@x.org"),
    ]
    # unquoted, "Doe, Jane" is two names: documented, the gate then says which one matches nothing
    assert signs("[- Doe, Jane]\n") == [("-", "Doe", None), ("-", "Jane", None)]
    markers = parse_markers("[+ John, Eric]\n").markers
    assert [m.written for m in markers] == ["[+ John, Eric]", "[+ John, Eric]"]


def test_several_markers_on_one_line_and_blank_lines_between_marker_lines() -> None:
    text = "\n\n[+ John] [- Eric]\n\n\n[+ Mia]\r\n\r\nHello all,\r\n"
    parsed = parse_markers(text)
    assert [(m.sign, m.name) for m in parsed.markers] == [("+", "John"), ("-", "Eric"), ("+", "Mia")]
    assert parsed.rest == "Hello all,\r\n"


def test_markers_after_a_greeting_do_not_count() -> None:
    parsed = parse_markers("Hello Eric,\n[+ John]\n\nJohn joins us.\n")
    assert parsed.markers == ()
    assert parsed.rest == "Hello Eric,\n[+ John]\n\nJohn joins us.\n"
    assert parsed.misplaced == ("[+ John]",)


def test_a_marker_sharing_its_line_with_text_is_not_a_marker_and_ends_the_block() -> None:
    parsed = parse_markers("[+ Mia]\n[+ John] Hello John,\n[- Eric]\n")
    assert [m.name for m in parsed.markers] == ["Mia"]
    assert parsed.rest == "[+ John] Hello John,\n[- Eric]\n"
    assert parsed.misplaced == ("[+ John]", "[- Eric]")


def test_quoted_markers_are_neither_markers_nor_misplaced() -> None:
    parsed = parse_markers("> [+ John]\n> [- Eric]\nMy answer.\n")
    assert parsed.markers == () and parsed.misplaced == ()


def test_empty_brackets_are_not_markers() -> None:
    assert signs("[+]\n[- ]\nHello\n") == []
    assert parse_markers("[+]\n[+ John]\n").misplaced == ("[+ John]",)


def test_invisible_characters_before_the_markers_are_ignored() -> None:
    assert signs("\ufeff[+ John]\n\u200b\nHello\n") == [("+", "John", None)]


def test_text_without_markers_is_its_own_rest() -> None:
    for text in ("", "\n\n", "Hello.\n", "[note] this is not a marker\n"):
        parsed = parse_markers(text)
        assert parsed.markers == () and parsed.rest == text


def test_only_markers() -> None:
    assert parse_markers("[+ John]\n").rest == ""


def test_marker_display() -> None:
    assert Marker("+", "John Smith", "john@x.org").display() == "[+ John Smith <john@x.org>]"
    assert Marker("-", "", "eric@x.org").display() == "[- eric@x.org]"
    assert Marker("+", "John", None, "[ +John ]").display() == "[ +John ]"


# --- applying markers (writing through the correspondence address) ----------------------------

ERIC = Recipient("eric@example.com", "Eric Example")
JOHN = Recipient("john.smith@example.com", "John Smith")
JOHN_D = Recipient("john.doe@example.com", "John Doe")
MIA = Recipient("mia@example.com", "Mia Müller")
KNOWN = {
    "eric example": ERIC,
    "eric@example.com": ERIC,
    "  John   SMITH ": JOHN,  # keys in any case and spacing
    "john.smith@example.com": JOHN,
    "@jsmith": JOHN,
    "mia müller": MIA,
}


def apply(text: str, previous: tuple[Recipient, ...] = (ERIC,), known: dict[str, Recipient] = KNOWN) -> list[str]:
    return [r.address for r in apply_markers(previous, parse_markers(text), known)]


def test_apply_adds_by_address_with_the_written_or_known_name() -> None:
    result = apply_markers((ERIC,), parse_markers("[+ Mia <MIA@example.com>]\n[+ john.smith@example.com]\n"), KNOWN)
    assert result == (ERIC, Recipient("mia@example.com", "Mia"), JOHN)
    new = apply_markers((), parse_markers("[+ stranger@example.net]\n"), KNOWN)
    assert new == (Recipient("stranger@example.net", ""),)


def test_apply_adds_by_known_name_alias_or_unambiguous_first_name() -> None:
    assert apply("[+ john smith]\n") == [ERIC.address, JOHN.address]
    assert apply("[+ @jsmith]\n") == [ERIC.address, JOHN.address]
    assert apply("[+ John]\n") == [ERIC.address, JOHN.address]
    assert apply("[+ mia muller]\n") == [ERIC.address, MIA.address]  # accents ignored


def test_apply_never_guesses() -> None:
    two_johns = {**KNOWN, "john doe": JOHN_D}
    assert apply("[+ John]\n", known=two_johns) == [ERIC.address]  # ambiguous: no one added
    assert apply("[+ Nobody Here]\n") == [ERIC.address]  # unknown: no one added


def test_apply_removes_by_address_name_first_name_or_known_name() -> None:
    both = (ERIC, JOHN)
    assert apply("[- eric@EXAMPLE.com]\n", both) == [JOHN.address]
    assert apply("[- eric example]\n", both) == [JOHN.address]
    assert apply("[- Eric]\n", both) == [JOHN.address]
    nameless = (Recipient("eric@example.com"), JOHN)
    assert apply("[- Eric Example]\n", nameless) == [JOHN.address]  # through the known names
    assert apply("[- John]\n", (ERIC, JOHN, JOHN_D)) == [ERIC.address, JOHN.address, JOHN_D.address]  # ambiguous


def test_apply_keeps_order_and_never_duplicates() -> None:
    assert apply("[+ Eric]\n[+ John]\n[+ john.smith@example.com]\n", (ERIC, ERIC)) == [ERIC.address, JOHN.address]
    assert apply("[- Eric]\n[+ Eric]\n", (ERIC, JOHN)) == [JOHN.address, ERIC.address]


def test_apply_ignores_markers_that_do_not_count() -> None:
    assert apply("Hello,\n[+ John]\n") == [ERIC.address]


# --- the recipient-markers rule ---------------------------------------------------------------

CONDUCT = "conduct@conduct.example"
MEMBER = "ada@conduct.example"
WENDY = Recipient("wendy@example.com", "Wendy Witness")


def mail(body: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ada <{MEMBER}>"
    msg["To"] = "someone@example.com"
    msg["Subject"] = "Follow-up"
    msg.set_content(body)
    return msg.as_bytes()


def judge(
    body: str,
    recipients: tuple[Recipient, ...],
    previous: tuple[Recipient, ...] | None,
    insiders: frozenset[str] = frozenset({CONDUCT, MEMBER}),
) -> Decision:
    return evaluate(Outgoing(mail(body), body, recipients, previous, (), insiders=insiders))


def details(decision: Decision) -> list[str]:
    assert {v.rule for v in decision.violations} <= {"recipient-markers"}
    return [v.detail for v in decision.violations]


def test_unchanged_recipients_need_no_marker() -> None:
    assert judge("Hello Eric,\n", (ERIC,), (ERIC,)).allowed
    assert judge("Hello Eric,\n", (Recipient("ERIC@example.com"),), (ERIC,)).allowed  # addresses case-insensitive


def test_added_recipient_without_a_marker_is_held_with_the_line_to_add() -> None:
    decision = judge("Hello Eric and John,\n", (ERIC, JOHN), (ERIC,))
    [violation] = decision.violations
    assert violation.rule == "recipient-markers"
    assert violation.summary == "an added recipient has no [+ ...] marker at the top"
    assert violation.detail.startswith("John Smith <john.smith@example.com> would receive this mail")
    assert "\n    [+ John Smith]" in violation.detail
    assert "[+ John Smith]" in decision.explain() and "[+ John Smith]" in "\n".join(decision.smtp_lines())


def test_added_recipient_without_a_name_gets_an_address_line() -> None:
    [detail] = details(judge("Hello,\n", (ERIC, Recipient("new@example.net")), (ERIC,)))
    assert "\n    [+ new@example.net]" in detail


@pytest.mark.parametrize(
    "marker",
    ["[+ John]", "[+ john smith]", "[ +JOHN   Smith ]", "[+ john.smith@example.com]", "[+ X <JOHN.SMITH@example.com>]"],
)
def test_added_recipient_with_a_marker_by_name_first_name_or_address_passes(marker: str) -> None:
    assert judge(f"{marker}\n\nHello Eric and John,\n", (ERIC, JOHN), (ERIC,)).allowed


def test_removed_recipient_without_a_marker_is_held() -> None:
    decision = judge("Hello John,\n", (JOHN,), (ERIC, JOHN))
    [violation] = decision.violations
    assert violation.summary == "a removed recipient has no [- ...] marker at the top"
    assert "Eric Example <eric@example.com> received the previous mail" in violation.detail
    assert "\n    [- Eric Example]" in violation.detail


@pytest.mark.parametrize("marker", ["[- Eric]", "[- eric example]", "[- eric@example.com]"])
def test_removed_recipient_with_a_marker_passes(marker: str) -> None:
    assert judge(f"{marker}\n\nHello John,\n", (JOHN,), (ERIC, JOHN)).allowed


def test_added_and_removed_together() -> None:
    assert judge("[+ John]\n[- Eric]\n\nHello John,\n", (JOHN, WENDY), (ERIC, WENDY)).allowed
    decision = judge("Hello John,\n", (JOHN, WENDY), (ERIC, WENDY))
    assert [v.summary for v in decision.violations] == [
        "an added recipient has no [+ ...] marker at the top",
        "a removed recipient has no [- ...] marker at the top",
    ]
    half = judge("[+ John]\n\nHello John,\n", (JOHN, WENDY), (ERIC, WENDY))
    assert [v.summary for v in half.violations] == ["a removed recipient has no [- ...] marker at the top"]


def test_stray_marker_is_held_and_quoted_back_exactly() -> None:
    decision = judge("[- Nobody Here]\n\nFollow-up.\n", (ERIC,), (ERIC,))
    [violation] = decision.violations
    assert violation.summary == "a recipient-change marker matches no change of recipients"
    assert violation.detail.startswith("[- Nobody Here] names no one who received the previous mail")
    assert "[- Nobody Here]" in decision.explain()
    [plus] = judge("[+Bob]\n\nHello.\n", (ERIC,), (ERIC,)).violations
    assert plus.detail.startswith("[+Bob] names no one this mail would go to (it would go to: Eric Example")
    assert "[+ Name <address>]" in plus.detail


def test_marker_for_someone_who_was_already_there_or_is_still_there() -> None:
    [already] = details(judge("[+ Eric]\n\nHello.\n", (ERIC,), (ERIC,)))
    assert "already received the previous mail" in already
    [still] = details(judge("[- Eric]\n\nHello.\n", (ERIC,), (ERIC,)))
    assert "would still receive this mail" in still


def test_marker_with_the_wrong_sign_says_which_sign() -> None:
    found = details(judge("[- John]\n\nHello.\n", (ERIC, JOHN), (ERIC,)))
    assert len(found) == 2  # the stray marker and the unmarked addition
    assert "John Smith <john.smith@example.com> is being added. Fix: write [+ John Smith] instead." in found[0]


def test_ambiguous_first_name_matches_no_one() -> None:
    decision = judge("[+ John]\n\nHello.\n", (ERIC, JOHN, JOHN_D), (ERIC,))
    assert [v.summary for v in decision.violations] == [
        "a marker is ambiguous: it names more than one recipient",
        "an added recipient has no [+ ...] marker at the top",
        "an added recipient has no [+ ...] marker at the top",
    ]
    assert "could mean any of John Smith <john.smith@example.com>, John Doe" in decision.violations[0].detail
    assert judge("[+ John Smith]\n[+ John Doe]\n\nHello.\n", (ERIC, JOHN, JOHN_D), (ERIC,)).allowed


def test_first_name_is_only_compared_among_the_recipients_changed_that_way() -> None:
    # John Doe leaves, John Smith joins: "[+ John]" and "[- John]" are each unambiguous
    assert judge("[+ John]\n[- John]\n\nHello.\n", (ERIC, JOHN), (ERIC, JOHN_D)).allowed


def test_recipient_without_a_display_name_is_matched_by_address_only() -> None:
    new = Recipient("john@example.net")
    assert judge("[+ john@example.net]\n\nHello.\n", (ERIC, new), (ERIC,)).allowed
    assert len(judge("[+ John]\n\nHello.\n", (ERIC, new), (ERIC,)).violations) == 2


def test_accents_and_case_do_not_matter_in_names() -> None:
    assert judge("[+ mia muller]\n\nHallo.\n", (ERIC, MIA), (ERIC,)).allowed


def test_marker_after_the_greeting_does_not_count_and_the_detail_says_so() -> None:
    [violation] = judge("Hello Eric,\n\n[+ John]\nJohn joins us.\n", (ERIC, JOHN), (ERIC,)).violations
    assert violation.summary == "an added recipient has no [+ ...] marker at the top"
    assert 'The marker "[+ John]" further down does not count' in violation.detail


def test_a_marker_below_other_text_is_an_error_of_its_own() -> None:
    # through the correspondence address: the late "[- Eric]" removed no one, Eric would still get it
    body = "Hello all,\n\n[- Eric]\nEric no longer needs to follow this.\n"
    recipients = apply_markers((ERIC, JOHN), parse_markers(body), KNOWN)
    assert recipients == (ERIC, JOHN)
    [violation] = judge(body, recipients, (ERIC, JOHN)).violations
    assert violation.summary == "a recipient-change marker below other text does not count"
    assert violation.detail.startswith('"[- Eric]" comes after other text')
    # a marker sharing its line with the greeting is late too
    [shared] = judge("[+ John] Hello John,\n", (ERIC, JOHN), (ERIC, JOHN)).violations
    assert shared.detail.startswith('"[+ John]" comes after other text')
    assert "each marker on a line of its own" in shared.detail
    # quoted markers are history, not the member's words
    assert judge("Thanks.\n\n> [- Eric]\n", (ERIC, JOHN), (ERIC, JOHN)).allowed


def test_first_mail_of_a_conversation_needs_no_marker() -> None:
    assert judge("Hello Eric,\n", (ERIC,), None).allowed
    assert judge("[+ Eric Example <eric@example.com>]\n\nHello Eric,\n", (ERIC,), None).allowed


def test_first_mail_of_a_conversation_rejects_stray_markers() -> None:
    [minus] = judge("[- Wendy]\n\nHello Eric,\n", (ERIC,), None).violations
    assert "this is the first mail of the conversation: there is no one to remove" in minus.detail
    [plus] = judge("[+ Bob]\n\nHello Eric,\n", (ERIC,), None).violations
    assert plus.detail.startswith("[+ Bob] names no one this mail would go to")


def test_empty_previous_is_not_the_first_mail() -> None:
    # a conversation whose previous mail reached no outside recipient: everyone now is added
    [violation] = judge("Hello Eric,\n", (ERIC,), ()).violations
    assert "[+ Eric Example]" in violation.detail


def test_insiders_are_never_outside_recipients() -> None:
    ada = Recipient(MEMBER, "Ada Member")
    conduct = Recipient(CONDUCT)
    assert judge("Hello Eric,\n", (ERIC, ada), (ERIC,)).allowed  # a member added: no marker needed
    assert judge("Hello Eric,\n", (ERIC,), (ERIC, conduct)).allowed  # the conduct copy removed: not counted here
    assert judge("[+ Ada Member]\n[+ conduct@conduct.example]\n\nHello.\n", (ERIC, ada, conduct), (ERIC,)).allowed
    assert judge("[+ ADA@conduct.example]\n\nHello.\n", (ERIC,), (ERIC,)).allowed  # naming an insider is never stray


def test_relay_flow_markers_applied_then_judged() -> None:
    previous = (ERIC,)
    body = "[+ John]\n[- Eric]\n\nHello John,\n"
    recipients = apply_markers(previous, parse_markers(body), KNOWN)
    assert recipients == (JOHN,)
    assert judge(body, recipients, previous).allowed
    # an unresolvable name changes nothing, and the gate reports the marker
    body = "[+ Johnny]\n\nHello.\n"
    recipients = apply_markers(previous, parse_markers(body), KNOWN)
    assert recipients == previous
    assert [v.summary for v in judge(body, recipients, previous).violations] == [
        "a recipient-change marker matches no change of recipients"
    ]


def test_all_marker_problems_are_reported_at_once() -> None:
    decision = judge("[- Nobody]\n\nHello.\n", (JOHN, WENDY), (ERIC,))
    assert len(decision.violations) == 4  # the stray marker, John and Wendy added, Eric removed
    assert all(isinstance(v, Violation) for v in decision.violations)
