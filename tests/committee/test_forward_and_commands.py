"""Forwarded-report detection and the command-line grammar of commands by mail (pure functions)."""

from __future__ import annotations

import pytest

from mailflow.committee.commands import parse
from mailflow.parse.forward import forwarded_sender
from mailflow.parse.message import parse_message
from tests.support.mail import report


@pytest.mark.parametrize(
    ("start", "from_line"),
    [
        ("---------- Forwarded message ---------", "From: Kim Witness <kim@example.org>"),  # Gmail
        ("-----Original Message-----", "From: Kim Witness [mailto:kim@example.org]"),  # Outlook
        ("Begin forwarded message:", "From: Kim Witness <kim@example.org>"),  # Apple Mail
        ("-------- Forwarded Message --------", "From: Kim Witness <kim@example.org>"),  # Thunderbird
        ("---------- Weitergeleitete Nachricht ---------", "Von: Kim Witness <kim@example.org>"),
        ("---------- Forwarded message ---------", "*From:* Kim Witness <kim@example.org>"),
    ],
)
def test_inline_forwards_name_the_original_sender(start: str, from_line: str) -> None:
    text = f"FYI\n\n{start}\n{from_line}\nSubject: hi\n\nThe report.\n"
    found = forwarded_sender(parse_message(report(body=text)))
    assert found is not None and found.address == "kim@example.org"


def test_an_attached_message_names_the_original_sender() -> None:
    inner = report(sender="Kim Witness <Kim@Example.ORG>", body="The report.\n")
    raw = (
        b"From: Bo <bo@committee.example>\r\nTo: conduct@example.org\r\nSubject: Fwd\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n'
        b"--b\r\nContent-Type: message/rfc822\r\n\r\n" + inner + b"\r\n--b--\r\n"
    )
    found = forwarded_sender(parse_message(raw))
    assert found is not None and (found.name, found.address) == ("Kim Witness", "Kim@example.org")


def test_a_mail_that_merely_quotes_is_not_a_forward() -> None:
    text = "Thanks!\n\nOn Mon, Kim <kim@example.org> wrote:\n> hello\n"
    assert forwarded_sender(parse_message(report(body=text))) is None


def test_commands_are_slash_lines_at_the_very_top() -> None:
    commands, rest = parse("\n/lead Ada\n\n/STATE investigating\nHello all,\n/note not a command here\n")
    assert [(c.name, c.args) for c in commands] == [("lead", "Ada"), ("state", "investigating")]
    assert rest.startswith("Hello all,") and "/note not a command here" in rest


def test_a_mail_without_commands_is_left_alone() -> None:
    commands, rest = parse("Note: I talked to her.\n/lead Ada\n")
    assert commands == [] and rest.startswith("Note:")
