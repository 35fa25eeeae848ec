"""The header section of raw mail, in order, and the one mailbox of its From field.

Authentication needs what the message really says, not a forgiving reading of it: the header
fields in their original order (where an Authentication-Results field sits relative to the first
Received matters), and a From field that names exactly one mailbox without syntax errors (a From
that different programs would read differently is refused rather than guessed at).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.errors import MessageDefect, ObsoleteHeaderDefect
from email.policy import default as default_policy

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE = re.compile(rb"\r?\n")
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII except ':'
_FOLD = re.compile(r"\r?\n(?=[ \t])")


@dataclass(frozen=True, slots=True)
class HeaderField:
    name: str  # lowercased
    value: str  # unfolded, decoded as UTF-8 (undecodable bytes kept as surrogates)


def header_fields(raw: bytes) -> tuple[HeaderField, ...]:
    """The header fields of ``raw`` from the top, unfolded; stops at the first line that is not a field."""
    end = _HEADER_END.search(raw)
    section = raw[: end.start()] if end else raw
    fields: list[tuple[str, list[str]]] = []
    for number, line_bytes in enumerate(_LINE.split(section)):
        line = line_bytes.decode("utf-8", "surrogateescape")
        if line[:1] in (" ", "\t"):
            if fields:
                fields[-1][1].append(line)
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _FIELD_NAME.match(name):
            if number == 0 and line.startswith("From "):
                continue  # an mbox "From " separator line
            break
        fields.append((name.lower(), [value]))
    return tuple(HeaderField(name, _FOLD.sub("", "\n".join(parts)).strip()) for name, parts in fields)


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
