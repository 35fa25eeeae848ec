"""Commands by mail (mailflow.committee.commands): the lines at the very top of a member's mail
that start with a slash, blank lines between them allowed; the first other line ends them, and
everything from it on is the member's message. The list a member gets with ``/help`` (or for an
unknown command) is the list of commands there are."""

from __future__ import annotations

import re

import pytest

from mailflow.committee import commands
from mailflow.committee.commands import HANDLERS, HELP, parse


def named(text: str) -> list[tuple[str, str]]:
    found, _ = parse(text)
    return [(c.name, c.args) for c in found]


def test_blank_lines_between_commands_are_allowed() -> None:
    given, rest = parse("\n\n/lead Ada Chair\n\n   \n/urgent she is afraid\n\nHello all,\nsee above.\n")
    assert [(c.name, c.args) for c in given] == [("lead", "Ada Chair"), ("urgent", "she is afraid")]
    assert rest == "Hello all,\nsee above."


def test_crlf_line_endings_are_read_like_lf() -> None:
    given, rest = parse("/vote yes\r\n\r\n/note agreed on the call\r\nThanks,\r\nBo\r\n")
    assert [(c.name, c.args, c.line) for c in given] == [
        ("vote", "yes", "/vote yes"),
        ("note", "agreed on the call", "/note agreed on the call"),
    ]
    assert rest == "Thanks,\nBo"


def test_a_first_line_that_is_no_command_means_there_are_none() -> None:
    """A first line like "Note: I talked to her" is the member's message, and so is any slash line below it."""
    given, rest = parse("Note: I talked to her.\n/close resolved\n")
    assert given == [] and rest == "Note: I talked to her.\n/close resolved"


def test_the_first_other_line_ends_the_commands() -> None:
    given, rest = parse("/lead Ada Chair\nThanks, Ada.\n/close done\n")
    assert [c.name for c in given] == ["lead"]
    assert rest == "Thanks, Ada.\n/close done"


def test_a_quoted_command_is_not_a_command() -> None:
    assert named("> /close resolved\n") == []


def test_command_names_are_case_insensitive_their_arguments_are_kept() -> None:
    assert named("/LEAD Ada Chair\n/Vote YES Because\n/No-Contact Jane 12\n") == [
        ("lead", "Ada Chair"),
        ("vote", "YES Because"),
        ("no-contact", "Jane 12"),
    ]


def test_spacing_around_a_command_does_not_matter() -> None:
    given, _ = parse("   /note\tspoke to the witness   \n/help\n")
    assert [(c.name, c.args, c.line) for c in given] == [
        ("note", "spoke to the witness", "/note\tspoke to the witness"),
        ("help", "", "/help"),
    ]


def test_a_mail_of_commands_only_has_nothing_else_to_say() -> None:
    given, rest = parse("/show\n\n/cases\n\n")
    assert [c.name for c in given] == ["show", "cases"] and rest == ""


@pytest.mark.parametrize("text", ["", "\n\n", "\r\n"])
def test_an_empty_mail_has_no_commands(text: str) -> None:
    assert parse(text) == ([], "")


def test_an_unknown_command_is_still_parsed() -> None:
    """``execute`` answers it with the list; parsing does not decide which commands exist."""
    assert named("/frobnicate now\nHi\n") == [("frobnicate", "now")]


# -- the list and the handlers ---------------------------------------------------------------------

_LISTED = re.compile(r"(?<![\w/])/([a-z][a-z-]*)")


def test_every_command_in_the_help_has_a_handler_and_every_handler_is_in_the_help() -> None:
    listed = set(_LISTED.findall(HELP))
    assert listed - set(HANDLERS) == set(), "listed in HELP but nothing handles it"
    assert set(HANDLERS) - listed == set(), "handled but not listed in HELP"


def test_the_help_is_the_list_in_the_module_docstring() -> None:
    assert HELP.lstrip().startswith("Who handles the case")
    assert commands.__doc__ is not None and HELP in commands.__doc__
