"""What the policy gate judges and what it answers: typed values, and helpers the rules share.

An :class:`Outgoing` mail (its bytes as they would leave, its recipients, what the case protects)
goes in; each rule returns :class:`Violation` values; :class:`Decision` gathers them. A
:class:`Violation`'s ``summary`` never carries message text, names or addresses (the caller may
record summaries in the diary); its ``detail`` does (the exact offending text or recipient, for
the member who has to fix the mail) and must only be shown to that member, never logged.
"""

from __future__ import annotations

import re
import textwrap
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mailflow.mime.tree import MessageTree
from mailflow.policy.exposure import Exposure, Identity

SMTP_LINE_LIMIT = 380
"""Characters of text per :meth:`Decision.smtp_lines` line: with "550-5.7.1 " in front a line stays < 400."""
_SMTP_MAX_LINES = 100


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str  # lowercased
    name: str = ""


@dataclass(frozen=True, slots=True)
class Protected:
    identity: Identity  # label like "reporter #1" or "harmed person #1"
    texts: tuple[tuple[str, str], ...] = ()
    """(label, text): everything this person gave us on the case: every body part, subject and
    attachment text of every message they sent (whole, quoted history included)."""
    permitted: bool = False  # written permission to disclose is recorded on the case
    hashes: frozenset[str] = frozenset()
    """SHA-256 of every attachment (any format, images included) this person sent us."""


@dataclass(frozen=True, slots=True)
class CommitteeOnly:
    """Something the committee wrote for itself: it never reaches a party, whoever the party is."""

    label: str
    """What it is, for the member: "the case's internal address", "an approval token", "a note (diary entry 7)"."""
    text: str
    literal: bool = True
    """True: matched as a string (addresses, tokens); False: as words (notes), like quotations."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    raw: bytes  # the mail exactly as it would reach the recipients (full MIME): every byte of it is judged
    top_text: str  # the plain-text body as the member typed it (new text, before quoted history)
    recipients: tuple[Recipient, ...]  # who it would go to (after markers applied); insiders are ignored
    previous: tuple[Recipient, ...] | None  # recipients of the conversation's previous outgoing mail; None: first
    protected: tuple[Protected, ...]  # reporters and harmed persons of the case
    withheld: tuple[Identity, ...] = ()  # identities held back from third parties now
    insiders: frozenset[str] = frozenset()  # committee and conduct addresses: never "outside"
    committee_only: tuple[CommitteeOnly, ...] = ()  # notes, commands, tokens, internal addresses
    no_contact: frozenset[str] = frozenset()
    """Addresses of people who asked for no further contact."""
    ours: tuple[str, ...] = ()
    """Texts the committee itself sent on the case: a protected person who quotes them does not
    make them their words (their sentences are not held as quotations)."""


@dataclass(frozen=True, slots=True)
class Violation:
    rule: str  # "recipient-markers", "reporter-protection", "withheld-identity", "unread-part", ...
    summary: str  # one line: what is wrong (no message text, names or addresses)
    detail: str  # the exact offending text or recipient and where, and how to fix it (may span lines)


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    violations: tuple[Violation, ...]

    def explain(self) -> str:
        """A plain-text explanation for the member: each problem, the offending text or recipient, the fix."""
        if not self.violations:
            return "The policy gate found nothing to hold in this mail.\n"
        count = len(self.violations)
        out = [f"The policy gate found {count} problem{'s' if count != 1 else ''} in this mail:", ""]
        for number, violation in enumerate(self.violations, 1):
            out.append(f"{number}. [{violation.rule}] {violation.summary}")
            out.extend(f"   {line}".rstrip() for line in violation.detail.splitlines())
            out.append("")
        return "\n".join(out)

    def smtp_lines(self) -> list[str]:
        """The same explanation as the text lines of a multi-line "550 5.7.1" reply.

        Lines carry no reply code (the listener adds "550-5.7.1 " / "550 5.7.1 "), are ASCII only
        (accents dropped, other characters as \\uXXXX escapes, control characters as spaces) and at
        most :data:`SMTP_LINE_LIMIT` characters. At most 100 lines: beyond that a last line says how
        many problems are not shown. An allowed decision has no lines.
        """
        if not self.violations:
            return []
        count = len(self.violations)
        lines = [f"Held by the policy gate: {count} problem{'s' if count != 1 else ''}, nothing was sent."]
        shown = 0
        for number, violation in enumerate(self.violations, 1):
            block = _wrap(f"{number}. [{violation.rule}] {violation.summary}", "")
            for part in violation.detail.splitlines():
                block += _wrap(part, "   ")
            if len(lines) + len(block) > _SMTP_MAX_LINES - 1:
                break
            lines += block
            shown += 1
        if shown < count:
            lines.append(f"{count - shown} more problem(s) not shown: fix these and send again to see the rest.")
        return lines


# ---------------------------------------------------------------------------------------------
# Helpers shared by the rules.


def watched(outgoing: Outgoing) -> list[tuple[Protected, tuple[Recipient, ...]]]:
    """The protected people this mail must not disclose, each with the outside recipients who are
    not themselves (those who would read it): none when every outside recipient is the person."""
    outside = outside_recipients(outgoing.recipients, outgoing.insiders)
    found = []
    for person in outgoing.protected:
        others = others_than(outside, person.identity)
        if others and not person.permitted:
            found.append((person, others))
    return found


def outside_recipients(recipients: Iterable[Recipient], insiders: Iterable[str]) -> tuple[Recipient, ...]:
    """``recipients`` without committee/conduct addresses, without blanks, first of each address kept."""
    inside = {a.strip().casefold() for a in insiders}
    seen: set[str] = set()
    out: list[Recipient] = []
    for recipient in recipients:
        address = recipient.address.strip().casefold()
        if address and address not in inside and address not in seen:
            seen.add(address)
            out.append(Recipient(address, recipient.name))
    return tuple(out)


def others_than(recipients: Sequence[Recipient], identity: Identity) -> tuple[Recipient, ...]:
    """The recipients who are not ``identity`` themself (matched by address)."""
    own = {a.strip().casefold() for a in identity.addresses}
    return tuple(r for r in recipients if r.address.casefold() not in own)


# Header fields not scanned as text: signatures and hashes (base64 noise that a short alias could
# match by chance) and the MIME structure fields, whose parameters (attachment names) the exposure
# walker reads decoded. Every other top-level field is scanned: recipients can read all headers.
_UNSCANNED_HEADERS = frozenset(
    {
        "dkim-signature",
        "x-google-dkim-signature",
        "arc-seal",
        "arc-message-signature",
        "content-type",
        "content-transfer-encoding",
        "content-disposition",
        "content-id",
        "mime-version",
    }
)


def visible_header_names(tree: MessageTree) -> tuple[str, ...]:
    """The top-level header fields of the message that a recipient could read, in order, once each.

    Decision: the gate scans every field except signatures and MIME structure fields. To, Cc and
    Bcc are scanned too: they name the recipients, so a protected person who is a recipient
    together with anyone else is disclosed to those others by them (the rules skip a person when
    every outside recipient is that person). A Bcc field is judged as written: if it is still in
    the bytes, every recipient can read it.
    """
    names = [h.name for h in tree.headers] or ["Subject", "From", "To", "Cc", "Bcc", "Reply-To"]
    seen: dict[str, str] = {}
    for name in names:
        key = name.strip().lower()
        if key and key not in _UNSCANNED_HEADERS:
            seen.setdefault(key, name.strip())
    if "subject" not in seen:
        seen["subject"] = "Subject"
    return tuple(seen.values())


def describe_recipients(recipients: Sequence[Recipient], limit: int = 5) -> str:
    shown = [f"{r.name} <{r.address}>" if r.name else r.address for r in recipients[:limit]]
    more = len(recipients) - limit
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


_RECIPIENT_HEADERS = re.compile(r"^(?:To|Cc|Bcc|Resent-To|Resent-Cc|Resent-Bcc) header$")


def in_recipient_header(exposure: Exposure) -> bool:
    """Whether the finding is in the mail's own recipient list (not in a forwarded message)."""
    return bool(_RECIPIENT_HEADERS.match(exposure.surface))


def exposure_detail(exposure: Exposure, others: Sequence[Recipient], fix: str, *, source: str = "") -> str:
    """'Name found in the Subject: "..."', what was quoted (``source``), who it would reach, the fix."""
    what = exposure.form[:1].upper() + exposure.form[1:]
    origin = f"Quoted from: {source}\n" if source else ""
    return (
        f'{what} found in the {exposure.surface}: "{exposure.excerpt}"\n'
        + origin
        + f"It would reach: {describe_recipients(others)}\n"
        f"Fix: {fix}"
    )


# ---------------------------------------------------------------------------------------------
# SMTP text.

_ASCII_FOLD = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201c": '"', "\u201d": '"', "\u201e": '"',
        "\u2026": "...", "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00a0": " ", "\u00ab": '"',
        "\u00bb": '"', "\u00df": "ss", "\u00e6": "ae", "\u00c6": "AE", "\u00f8": "o", "\u00d8": "O",
        "\u0142": "l", "\u0141": "L", "\u0111": "d", "\u0110": "D", "\u00f0": "d", "\u00fe": "th",
        "\u0153": "oe", "\u0152": "OE",
    }
)  # fmt: skip


def to_ascii(text: str) -> str:
    """ASCII for an SMTP reply: accents dropped, other characters escaped, controls as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_FOLD))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    plain = "".join(" " if (ord(c) < 32 or ord(c) == 127) else c for c in plain)
    return plain.encode("ascii", "backslashreplace").decode("ascii")


def _wrap(text: str, indent: str) -> list[str]:
    clean = " ".join(to_ascii(text).split())
    if not clean:
        return []
    return textwrap.wrap(
        clean,
        width=SMTP_LINE_LIMIT,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=True,
        break_on_hyphens=False,
    )
