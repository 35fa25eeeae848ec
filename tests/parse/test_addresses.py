"""The tokens of our addresses: a return path's token is unguessable and sorts in the order made."""

from __future__ import annotations

import pytest

from mailflow.parse import addresses
from mailflow.parse.addresses import ConductAddress, ordered_token

CONDUCT = ConductAddress.parse("conduct@example.org")


def test_return_path_tokens_sort_in_the_order_they_were_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given tokens made at clocks that cross every digit boundary of the token alphabet
    (whose letters sort after its digits, unlike base32's order)
    When they are sorted as text
    Then they come in the order they were made, each a bounce address we recognise again."""
    made = []
    for millis in (0, 5, 6, 25, 26, 31, 32, 1_023, 1_024, 1_764_000_000_000, 1_764_000_000_001, 2**44):
        monkeypatch.setattr(addresses.time, "time_ns", lambda m=millis: m * 1_000_000)
        made.append(ordered_token())
    assert sorted(made) == made
    for token in made:
        assert len(token) == 19
        assert CONDUCT.bounce_token(CONDUCT.bounce_address(token)) == token


def test_two_return_path_tokens_of_the_same_millisecond_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(addresses.time, "time_ns", lambda: 1_764_000_000_000_000_000)
    tokens = {ordered_token() for _ in range(1000)}
    assert len(tokens) == 1000
    assert len({t[:9] for t in tokens}) == 1  # the time part alike, the 50 random bits not
