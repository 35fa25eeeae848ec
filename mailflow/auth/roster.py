"""The committee roster as the authentication code sees it: who owns which address, who chairs.

Built once from ``[committee]`` in the configuration. Addresses are compared case-insensitively
and exactly: ``ada@example.org`` is not ``ada+x@example.org`` and not ``ada@mail.example.org``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from mailflow.errors import ConfigError

if TYPE_CHECKING:
    from mailflow.config import Settings

Role = Literal["chair", "member"]


@dataclass(frozen=True, slots=True)
class RosterMember:
    name: str
    addresses: tuple[str, ...]
    """As configured (domain lowercased); compare with ``Roster.by_address``."""
    role: str  # "chair" | "member"
    aliases: tuple[str, ...] = ()
    password_hash: str | None = field(default=None, repr=False)
    """scrypt hash for the submission listener (``mailflow committee hash-password``); None: no login."""

    @property
    def is_chair(self) -> bool:
        return self.role == "chair"

    def owns(self, address: str) -> bool:
        wanted = address.strip().lower()
        return any(a.lower() == wanted for a in self.addresses)


@dataclass(frozen=True, slots=True)
class Roster:
    members: tuple[RosterMember, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Roster:
        members = tuple(
            RosterMember(
                name=m.name,
                addresses=tuple(m.addresses),
                role=m.role,
                aliases=tuple(m.aliases),
                password_hash=m.password_hash.get_secret_value() if m.password_hash is not None else None,
            )
            for m in settings.committee.members
        )
        return cls.of(members)

    @classmethod
    def of(cls, members: tuple[RosterMember, ...]) -> Roster:
        """A roster from members; raises ConfigError when one address is given to two members
        (mail from it could not be attributed to either)."""
        owner: dict[str, int] = {}
        for index, member in enumerate(members):
            for address in member.addresses:
                key = address.strip().lower()
                first = owner.setdefault(key, index)
                if first != index:
                    problem = f"an address of {member.name} is also listed for {members[first].name}"
                    raise ConfigError(
                        f"invalid configuration: committee.members: {problem}", [("committee.members", problem)]
                    )
        return cls(members)

    def by_address(self, address: str) -> RosterMember | None:
        """The member who owns ``address`` (case-insensitive, exact), or None."""
        wanted = address.strip().lower()
        if not wanted:
            return None
        for member in self.members:
            if any(a.lower() == wanted for a in member.addresses):
                return member
        return None

    def chairs(self) -> tuple[RosterMember, ...]:
        return tuple(m for m in self.members if m.is_chair)
