"""The header section of a message, in order, and the one mailbox of its From field.

Authentication needs what the message really says, not a forgiving reading of it: the header
fields in their original order (where an Authentication-Results field sits relative to the first
Received matters), and a From field that names exactly one mailbox without syntax errors (a From
that different programs would read differently is refused rather than guessed at).
"""

from __future__ import annotations

from dataclasses import dataclass
from email.errors import MessageDefect, ObsoleteHeaderDefect
from email.policy import default as default_policy

from mailflow.mime.tree import MessageTree
from mailflow.parse.trace import is_own


@dataclass(frozen=True, slots=True)
class HeaderField:
    name: str  # lowercased
    value: str  # unfolded, not decoded (8-bit bytes read as UTF-8)


def header_fields(tree: MessageTree) -> tuple[HeaderField, ...]:
    """The header fields of the message from the top, in order, unfolded, as the MIME reading
    took them apart; without the Received trace our own intake wrote on top (it is not a hop the
    message claims to have passed: it is us)."""
    fields = tuple(HeaderField(h.key, h.raw) for h in tree.headers)
    if fields and is_own(fields[0].name, fields[0].value):
        return fields[1:]
    return fields


@dataclass(frozen=True, slots=True)
class FromMailbox:
    address: str | None
    """The one mailbox's address, lowercased; None when the From field is unusable."""
    domain: str | None
    problem: str | None = None
    """Why there is no usable address (None when there is one)."""


_TOLERATED_DEFECTS: tuple[type[MessageDefect], ...] = (ObsoleteHeaderDefect,)


def from_mailbox(fields: tuple[HeaderField, ...]) -> FromMailbox:
    """The address of the single mailbox in the single From field, or why there is none."""
    values = [f.value for f in fields if f.name == "from"]
    if not values:
        return _unusable("the message has no From header")
    if len(values) > 1:
        return _unusable(f"the message has {len(values)} From headers (exactly one is allowed)")
    try:
        parsed = default_policy.header_factory("from", values[0])
        groups = parsed.groups
        defects = parsed.defects
    except Exception:  # the email package can raise IndexError, ValueError... on crafted input
        return _unusable("the From header could not be parsed")
    if any(not isinstance(d, _TOLERATED_DEFECTS) for d in defects):
        return _unusable("the From header is malformed")
    if any(g.display_name is not None for g in groups):
        return _unusable("the From header holds a group, not a mailbox")
    mailboxes = [a for g in groups for a in g.addresses]
    if len(mailboxes) != 1:
        return _unusable(f"the From header holds {len(mailboxes)} mailboxes (exactly one is allowed)")
    [mailbox] = mailboxes
    if not mailbox.username or not mailbox.domain or "@" in mailbox.username:
        return _unusable("the From header's address is incomplete")
    domain = mailbox.domain.lower().rstrip(".")
    return FromMailbox(f"{mailbox.username}@{domain}".lower(), domain)


def _unusable(problem: str) -> FromMailbox:
    return FromMailbox(None, None, problem)
