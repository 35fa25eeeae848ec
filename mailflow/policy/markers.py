"""Recipient-change markers: ``[+ John]`` / ``[- Eric]`` lines at the very top of a mail.

Source: django-communications-guidelines.md, lines 12-17:

    If adding or removing people from the recipients list of an email thread, note the change at
    the top of the email, like this: [+ John] [- Eric] - this helps guard against someone
    accidentally sharing protected information without being aware of the recipients.

The markers are written for the recipients as much as for the committee, so they stay in the mail
that is relayed; :attr:`Markers.rest` is the text after them (for finding commands, or for a caller
that needs the body without them).

Decisions (what counts as a marker):

* Only lines at the very top count: leading blank lines, then lines made only of markers, with
  blank lines allowed between them. The first line holding anything else (a greeting, a quoted
  line "> [+ John]", a line like "[+ John] Hello John,") ends the block;
  marker-looking brackets from there on are not markers and change no recipient. Those outside
  quoted lines are kept in :attr:`Markers.misplaced`: the gate holds a mail with one (the member
  meant a change that did not happen) and says "this marker further down does not count".
* Forgiving: "[+John]", "[ + john ]", "[+ John Smith <john@x.org>]", "[- eric@x.org]",
  "[- <eric@x.org>]", "[+ mailto:john@x.org]", "[+ john@x.org <mailto:john@x.org>]" (how some
  clients render a link in plain text), "[+ John Smith john@x.org]". The signs "+" / "-" may also
  be the full-width plus/minus, the minus sign U+2212 or a dash (U+2010-U+2015) that a client's
  "smart punctuation" made of a hyphen. Several markers may share a line ("[+ John] [- Eric]").
* Lists: inside one marker, "," and ";" separate people, except inside double quotes or angle
  brackets: "[+ John, Eric]" is two markers, '[+ "Doe, Jane" <jane@x.org>]' is one. An unquoted
  "[+ Doe, Jane]" is therefore two names, "Doe" and "Jane" (write "[+ Jane Doe]").
* An empty marker ("[+]", "[- ]") is not a marker: it ends the block like any other text.
* Names keep their spelling (the gate compares them case-insensitively, whitespace-normalised);
  addresses are lowercased.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from mailflow.policy.outgoing import Recipient

__all__ = ["Marker", "Markers", "apply_markers", "display_line", "name_key", "names_match", "parse_markers"]

_PLUS = "+\uff0b\ufe62"
_MINUS = "\\-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe63\uff0d"
_MARKER = re.compile(rf"\[[ \t\u00a0]*([{_PLUS}{_MINUS}])[ \t\u00a0]*([^\[\]\r\n]*?)[ \t\u00a0]*\]")
_MARKER_LINE = re.compile(rf"[ \t\u00a0]*(?:{_MARKER.pattern}[ \t\u00a0]*)+")
_ADDRESS = re.compile(r"(?:mailto:)?([^\s<>()\[\]\",;:@]+@[^\s<>()\[\]\",;:@]+)", re.IGNORECASE)
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"), None)


@dataclass(frozen=True, slots=True)
class Marker:
    sign: Literal["+", "-"]
    name: str  # as written, whitespace-normalised, quotes removed; "" when only an address was given
    address: str | None  # lowercased, or None when only a name was given
    written: str = ""  # the whole bracket as it appears in the mail, e.g. "[+ John, Eric]"

    def display(self) -> str:
        """The marker as the gate quotes it back: the bracket as written when known."""
        if self.written:
            return self.written
        who = f"{self.name} <{self.address}>" if self.name and self.address else self.name or self.address or ""
        return f"[{self.sign} {who}]"


@dataclass(frozen=True, slots=True)
class Markers:
    markers: tuple[Marker, ...]
    rest: str  # the text after the marker block (and the blank lines right after it)
    misplaced: tuple[str, ...] = ()  # marker-looking brackets below the top block (not in "> " lines), as written


def parse_markers(text: str) -> Markers:
    """The markers at the very top of ``text`` (see the module docstring for what counts)."""
    lines = text.splitlines(keepends=True)
    markers: list[Marker] = []
    index = 0  # the first line that is not blank and not a marker line
    while index < len(lines):
        clean = lines[index].translate(_INVISIBLE).rstrip("\r\n")
        if clean.strip():
            if not _MARKER_LINE.fullmatch(clean):
                break
            found = [_parse_bracket(m) for m in _MARKER.finditer(clean)]
            if not all(found):  # an empty bracket: not a marker line
                break
            for group in found:
                markers.extend(group)
        index += 1
    rest = "".join(lines[index:]) if markers else text
    misplaced = tuple(
        m.group(0)
        for line in lines[index:]
        if not line.lstrip().startswith(">")
        for m in _MARKER.finditer(line)
        if m.group(2).strip()
    )
    return Markers(tuple(markers), rest, misplaced)


def _parse_bracket(match: re.Match[str]) -> list[Marker]:
    sign: Literal["+", "-"] = "+" if match.group(1) in _PLUS else "-"
    return [
        Marker(sign, name, address, match.group(0))
        for name, address in (_parse_entry(entry) for entry in _split_entries(match.group(2)))
        if name or address
    ]


def _split_entries(content: str) -> list[str]:
    """Split at "," / ";" outside double quotes and angle brackets."""
    entries: list[str] = []
    current: list[str] = []
    quoted, angle = False, 0
    for char in content:
        if char == '"':
            quoted = not quoted
        elif char == "<" and not quoted:
            angle += 1
        elif char == ">" and not quoted and angle:
            angle -= 1
        elif char in ",;" and not quoted and not angle:
            entries.append("".join(current))
            current = []
            continue
        current.append(char)
    entries.append("".join(current))
    return [e.strip() for e in entries if e.strip()]


def _parse_entry(entry: str) -> tuple[str, str | None]:
    addresses = [m.group(1).lower() for m in _ADDRESS.finditer(entry)]
    name = _ADDRESS.sub(" ", entry) if addresses else entry
    name = re.sub(r"[<>()\"]|mailto:", " ", name, flags=re.IGNORECASE)
    name = " ".join(name.split()).strip(" '")
    return name, (addresses[0].rstrip(".") if addresses else None)


# ---------------------------------------------------------------------------------------------
# Matching names: shared with the gate's recipient-markers rule.


def name_key(name: str) -> str:
    """Casefolded, accents dropped, whitespace-normalised: "  José  SMITH " -> "jose smith"."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_INVISIBLE).replace('"', " "))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.casefold().split())


def names_match(marker_name: str, recipient_name: str, *, first_name: bool) -> bool:
    """Same full name; with ``first_name`` a one-word marker also matches the recipient's first word."""
    marker, recipient = name_key(marker_name), name_key(recipient_name)
    if not marker or not recipient:
        return False
    if marker == recipient:
        return True
    return first_name and " " not in marker and recipient.split(" ", 1)[0] == marker


def display_line(sign: Literal["+", "-"], recipient: Recipient) -> str:
    """The marker line to write for ``recipient``: its name when it has one, else its address."""
    return f"[{sign} {' '.join(recipient.name.split()) or recipient.address}]"


# ---------------------------------------------------------------------------------------------
# Applying markers: writing through the correspondence address.


def apply_markers(
    previous: Sequence[Recipient], markers: Markers, known: Mapping[str, Recipient]
) -> tuple[Recipient, ...]:
    """The recipient list after ``markers``, in order: the previous ones, then the added ones.

    ``known`` maps the case's parties by name, address and alias (any case and spacing) to a
    recipient. A "+" marker with an address adds that address (named as written, else as known);
    one with a name only adds the known person of that name, or the only known person with that
    first name. A "-" marker removes the recipient with that address, or with that name (full name,
    or an unambiguous first name among the current recipients), or the known person of that name.
    A marker that cannot be resolved, or is ambiguous, changes nothing: the gate then reports it as
    a marker with no matching change, so nothing is ever sent to a guessed address.
    """
    by_key: dict[str, Recipient] = {}
    for key, recipient in known.items():
        by_key.setdefault(name_key(key), recipient)
    current: list[Recipient] = []
    for recipient in previous:
        _add(current, recipient)
    for marker in markers.markers:
        if marker.sign == "+":
            added = _resolve_added(marker, by_key)
            if added is not None:
                _add(current, added)
        else:
            gone = _resolve_removed(marker, current, by_key)
            current = [r for r in current if r.address not in gone]
    return tuple(current)


def _add(current: list[Recipient], recipient: Recipient) -> None:
    address = recipient.address.lower()
    if address and all(r.address != address for r in current):
        current.append(Recipient(address, recipient.name))


def _resolve_added(marker: Marker, known: Mapping[str, Recipient]) -> Recipient | None:
    if marker.address:
        named = known.get(marker.address)
        return Recipient(marker.address, marker.name or (named.name if named else ""))
    found = known.get(name_key(marker.name))
    if found is not None:
        return found
    people = {r.address.lower(): r for r in known.values()}
    candidates = [r for r in people.values() if names_match(marker.name, r.name, first_name=True)]
    return candidates[0] if len(candidates) == 1 else None


def _resolve_removed(marker: Marker, current: Sequence[Recipient], known: Mapping[str, Recipient]) -> set[str]:
    if marker.address:
        return {marker.address}
    exact = [r.address for r in current if names_match(marker.name, r.name, first_name=False)]
    if exact:
        return set(exact)
    first = [r.address for r in current if names_match(marker.name, r.name, first_name=True)]
    if len(first) == 1:
        return set(first)
    if first:  # ambiguous among the recipients: remove no one
        return set()
    named = known.get(name_key(marker.name))
    return {named.address.lower()} if named is not None else set()
