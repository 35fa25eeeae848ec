"""Our addresses: the conduct address, its plus-addresses, and the case addresses that carry tokens.

A case address reads ``conduct+2026-0007.k3f9q2abcd@example.org``: the case reference for people,
and a random token (stored in the database, so revocable and countable) that makes it unguessable.
Every outgoing mail has a return path of its own, ``conduct+bounce.TOKEN@example.org`` (VERP):
a bounce counts for a mail only when it comes back to that address.
"""

from __future__ import annotations

import re
import secrets
import time
from base64 import b32encode
from dataclasses import dataclass

_CASE_DETAIL = re.compile(r"^(?P<ref>\d{4}-\d{4,})\.(?P<token>[a-z2-7]{6,32})$")
_BOUNCE_DETAIL = re.compile(r"^bounce\.(?P<token>[a-z2-7]{6,32})$")


@dataclass(frozen=True, slots=True)
class ConductAddress:
    """The committee's address, split once; answers which addresses are ours."""

    local: str
    domain: str

    @classmethod
    def parse(cls, address: str) -> ConductAddress:
        local, _, domain = address.rpartition("@")
        return cls(local.lower(), domain.lower())

    def __str__(self) -> str:
        return f"{self.local}@{self.domain}"

    def detail(self, address: str) -> str | None:
        """The part after ``+`` for our plus-addresses, '' for the bare address, None if not ours."""
        local, at, domain = address.strip().strip("<>").rpartition("@")
        if not at or domain.lower() != self.domain:
            return None
        base, plus, detail = local.lower().partition("+")
        if base != self.local:
            return None
        return detail if plus else ""

    def accepts(self, address: str) -> bool:
        return self.detail(address) is not None

    def case_address(self, ref: str, token: str) -> str:
        return f"{self.local}+{ref}.{token}@{self.domain}"

    def bounce_address(self, token: str) -> str:
        """The return path of one outgoing mail (VERP): only a bounce sent here counts for it."""
        return f"{self.local}+bounce.{token}@{self.domain}"

    def bounce_token(self, address: str) -> str | None:
        detail = self.detail(address)
        match = _BOUNCE_DETAIL.match(detail) if detail else None
        return match["token"] if match else None

    def case_token(self, address: str) -> CaseToken | None:
        detail = self.detail(address)
        if not detail:
            return None
        match = _CASE_DETAIL.match(detail)
        return CaseToken(match["ref"], match["token"]) if match else None


@dataclass(frozen=True, slots=True)
class CaseToken:
    ref: str
    token: str


def new_token() -> str:
    """Ten base32 characters: 50 random bits, lower case so that MTAs that fold case do no harm."""
    return b32encode(secrets.token_bytes(10)).decode("ascii")[:10].lower()


_ORDERED_DIGITS = "234567abcdefghijklmnopqrstuvwxyz"
"""The token alphabet in ASCII order, so that a number written in it sorts as text as it does as a number."""


def ordered_token() -> str:
    """A token for a return path: the milliseconds since 1970 in nine characters of the token
    alphabet, then the ten random ones of :func:`new_token` (50 bits: still unguessable). Tokens
    made later sort later, so the outbox's unique index grows at its edge instead of at a random
    page of a large index."""
    millis, digits = time.time_ns() // 1_000_000, []
    for _ in range(9):
        millis, digit = divmod(millis, 32)
        digits.append(_ORDERED_DIGITS[digit])
    return "".join(reversed(digits)) + new_token()
