"""The tone check: phrases that attribute thoughts or feelings, or judge people, are listed as advice."""

from __future__ import annotations

import pytest

from mailflow.notices import Advice, tone_advice

FLAGGED = [
    ("He feels that nobody listens to him.", "He feels"),
    ("she thinks the review was unfair", "she thinks"),
    ("They believe the docs are useless.", "They believe"),
    ("Obviously, the message broke the code.", "Obviously"),
    ("The comment was clearly meant as an insult.", "clearly"),
    ("He wanted to embarrass the author.", "He wanted"),
    ("She meant to hurt the new contributor.", "She meant"),
    ("It is obvious that this was a breach.", "It is obvious"),
    ("Of course this is not acceptable.", "Of course"),
    ("a lazy contributor", "lazy contributor"),
    ("He is an aggressive person.", "aggressive person"),
    ("The thread turned toxic.", "toxic"),
    ("He always interrupts others.", "He always"),
    ("She never listens to feedback.", "She never"),
    ("You wanted to make a point at their expense.", "You wanted"),
    ("He was clearly upset when he wrote it.", "He was clearly upset"),
    ("you did it on purpose", "on purpose"),
    ("He is a troll.", "is a troll"),
    ("she was rude to the speaker", "she was rude"),
]

NOT_FLAGGED = [
    "The committee thinks this message broke the code of conduct.",  # the committee's own voice
    "We believe a private reprimand is proportionate.",
    "I feel we should ask for more information first.",  # the writer's own view
    "On 3 March a message from your account called the documentation 'written by idiots'.",
    "Please tell us anything else you think we should know.",  # asking, not asserting
    "If you want to add something, reply to this message.",
    "If you felt unsafe, please contact local emergency services.",
    "We will let them know that the ban has started.",
    "We will never share your identity without your written permission.",
    "> he feels nobody reads his patches",  # a quoted mail is what someone wrote
    'The message said: "they obviously don\'t care about newcomers".',  # quoting is an observed fact
    "The message said: \u201cshe thinks she owns the project\u201d.",
    "A reminder to everyone: comments about where people come from have no place here.",
]


@pytest.mark.parametrize(("text", "phrase"), FLAGGED)
def test_flagged(text: str, phrase: str) -> None:
    found = tone_advice(text)
    assert [a.phrase for a in found] == [phrase]
    assert found[0].why and phrase in found[0].excerpt


@pytest.mark.parametrize("text", NOT_FLAGGED)
def test_not_flagged(text: str) -> None:
    assert tone_advice(text) == []


def test_advice_in_order_with_an_excerpt_of_its_line() -> None:
    text = (
        "Dear Alex,\n\nWe looked at the thread from 3 March and at every reply to it. "
        "Clearly, he wanted to win the argument,\n"
        "and she felt attacked.\n"
    )
    found = tone_advice(text)
    assert [a.phrase for a in found] == ["Clearly", "he wanted", "she felt"]
    assert all(isinstance(a, Advice) and "\n" not in a.excerpt for a in found)
    assert found[0].excerpt.startswith("...") and "he wanted to win" in found[1].excerpt
    assert found[2].excerpt == "and she felt attacked."


def test_case_insensitive_and_whole_words_only() -> None:
    assert [a.phrase for a in tone_advice("OBVIOUSLY wrong")] == ["OBVIOUSLY"]
    assert tone_advice("the theme feelsgood and the toxicology report") == []
    assert tone_advice("") == []
