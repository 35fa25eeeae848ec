"""Derived readings: entities, percent-encoding and base64 runs that hide a name in a text."""

from __future__ import annotations

import base64

from mailflow.mime.derived import BASE64, ENTITIES, MAX_FACTOR, PERCENT, derived_texts, with_derived
from mailflow.mime.reading import Reading, Text, Unread

NAME = "Alice Liddell"
ADDRESS = "alice.liddell@example.net"


def derived(text: str) -> dict[str, str]:
    return dict(derived_texts(text))


def test_entities_left_in_plain_text_are_decoded() -> None:
    # Given a plain text with HTML entities inside the name
    # When its derived readings are taken
    readings = derived("Hello Alice&nbsp;Liddell and &#65;lice &#x4c;iddell")
    # Then the entities are decoded (the no-break space counts as a space for the matcher)
    assert readings[ENTITIES] == "Hello Alice\xa0Liddell and Alice Liddell"


def test_fully_percent_encoded_mailto_is_decoded() -> None:
    # Given a mailto link whose every character is percent-encoded
    encoded = "".join(f"%{b:02x}" for b in ADDRESS.encode())
    # When its derived readings are taken
    readings = derived(f"Write to mailto:{encoded} today")
    # Then the address appears
    assert readings[PERCENT] == f"Write to mailto:{ADDRESS} today"


def test_percent_20_in_a_query_string_is_decoded_but_not_plus() -> None:
    # Given a URL with the name in its query string
    # When its derived readings are taken
    readings = derived("https://forms.example/report?name=Alice%20Liddell&from=x+y")
    # Then %20 becomes a space and "+" stays as it is
    assert readings[PERCENT] == "https://forms.example/report?name=Alice Liddell&from=x+y"


def test_percent_encoded_latin1_falls_back_to_windows_1252() -> None:
    # Given a percent-encoded run that is not UTF-8
    # When it is decoded
    # Then it is read as Windows-1252
    assert derived("q=Alice%20Lidd%E9ll")[PERCENT] == "q=Alice Liddéll"


def test_base64_run_inside_a_text_is_decoded() -> None:
    # Given a text with a base64 token holding the name
    token = base64.b64encode(f"{NAME} <{ADDRESS}>".encode()).decode()
    # When its derived readings are taken
    readings = derived(f"see reference {token} in the tracker")
    # Then the decoded text is a derived reading
    assert readings[BASE64] == f"{NAME} <{ADDRESS}>"


def test_base64_block_split_over_lines_is_decoded_after_a_short_line() -> None:
    # Given a base64 block wrapped at 76 characters, after a short line that is base64-like too
    statement = f"Statement by {NAME}, written after the meeting of the 3rd of May. " * 4
    encoded = base64.b64encode(statement.encode()).decode()
    lines = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    # When its derived readings are taken
    readings = derived(f"Hi\n{lines}\nBye")
    # Then the whole block is decoded, not misaligned by the "Hi" before it
    assert readings[BASE64] == statement


def test_url_safe_base64_is_decoded() -> None:
    # Given a URL-safe base64 token
    token = base64.urlsafe_b64encode(f"{NAME}??>>".encode()).decode().rstrip("=")
    # When its derived readings are taken
    # Then it is decoded
    assert derived(f"id={token}")[BASE64] == f"{NAME}??>>"


def test_long_words_and_binary_base64_are_not_derived() -> None:
    # Given ordinary long words and base64 of binary data
    binary = base64.b64encode(bytes(range(256))).decode()
    # When derived readings are taken
    # Then there are none
    assert derived("internationalization and counterrevolutionaries") == {}
    assert derived(binary) == {}


def test_nothing_is_derived_from_a_text_without_encodings() -> None:
    # Given an ordinary text (with a lone "&" and "%")
    # When derived readings are taken
    # Then there are none (a derived text must differ from the input)
    assert derived_texts("Tom & Jerry, 100 % sure, meeting at 5") == []


def test_derived_output_is_bounded() -> None:
    # Given a text that is at once entity-, percent- and base64-encoded everywhere
    token = base64.b64encode(b"Alice Liddell wrote this %41 &amp;").decode()
    text = (f"&amp;%41 {token}\n") * 2000
    # When derived readings are taken
    total = sum(len(t) for _, t in derived_texts(text))
    # Then they are at most MAX_FACTOR times the input
    assert 0 < total <= MAX_FACTOR * len(text)


def test_with_derived_adds_labelled_texts_after_each_text() -> None:
    # Given a reading with an entity-encoded text and an unread part
    reading = Reading((Text("page 1 in report.pdf", "A&#108;ice"),), (Unread("page 2 in report.pdf", "x"),))
    # When the derived readings are added
    result = with_derived(reading)
    # Then the derived text follows its source, labelled, and the unread part is kept
    assert result.texts == (
        Text("page 1 in report.pdf", "A&#108;ice"),
        Text(f"page 1 in report.pdf ({ENTITIES})", "Alice"),
    )
    assert result.unread == reading.unread
