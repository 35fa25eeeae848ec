"""Rule ``recipient-markers``: every change to the outside recipients is noted at the very top.

Source: django-communications-guidelines.md lines 12-17:

    If adding or removing people from the recipients list of an email thread, note the change at
    the top of the email, like this: [+ John] [- Eric] - this helps guard against someone
    accidentally sharing protected information without being aware of the recipients.

The outside recipients of this mail are compared with those of the conversation's previous
outgoing mail. Every added recipient needs a "[+ ...]" marker and every removed one a "[- ...]"
marker, before any other text (parsing: :mod:`mailflow.policy.markers`). A marker that matches no
change is an error too: it tells the recipients something that is not true.

Decisions:

* Insiders (committee and conduct addresses) are never outside recipients: adding or removing one
  needs no marker, and a marker naming one is accepted (never stray).
* First mail of a conversation (``previous is None``): writing to someone is how a conversation
  with them starts, so no marker is required; a "[+ ...]" marker must still name one of the
  recipients, and any "[- ...]" marker is an error (there is no one to remove).
* Matching: a marker with an address matches the recipient with that address (case-insensitive)
  and nothing else; a marker with only a name matches a changed recipient whose display name is
  that name (case, accents and spacing ignored), or whose first name it is when exactly one
  recipient changed in that direction has that first name. An ambiguous first name matches no one.
  A recipient without a display name can only be matched by address.
* A marker below other text does not count (the guideline says "at the top"): it changes no
  recipient. It is an error of its own, because the member meant a change that did not happen
  (writing "Hello all,\n[- Eric]" through the correspondence address would still reach Eric).
  When it would have matched a change that lacks its marker, that violation names it instead.
  Quoted lines ("> [- Eric]") and text outside ``top_text`` (quoted history) are not looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from mailflow.mime.surfaces import Surfaces
from mailflow.policy.markers import Marker, Markers, display_line, names_match, parse_markers
from mailflow.policy.outgoing import Outgoing, Recipient, Violation, describe_recipients, outside_recipients

RULE = "recipient-markers"

_TOP = "at the very top of the mail, before any other text (the greeting included)"


def check(outgoing: Outgoing, seen: Surfaces) -> list[Violation]:
    markers = parse_markers(outgoing.top_text)
    insiders = {a.strip().casefold() for a in outgoing.insiders}
    inside_recipients = [
        r for r in (*outgoing.recipients, *(outgoing.previous or ())) if r.address.strip().casefold() in insiders
    ]
    now = outside_recipients(outgoing.recipients, insiders)
    first_mail = outgoing.previous is None
    before = outside_recipients(outgoing.previous or (), insiders)
    before_addresses = {r.address for r in before}
    now_addresses = {r.address for r in now}
    added = [] if first_mail else [r for r in now if r.address not in before_addresses]
    removed = [r for r in before if r.address not in now_addresses]
    unchanged = [r for r in now if r.address in before_addresses]

    violations: list[Violation] = []
    matched: set[tuple[str, str]] = set()  # (sign, address)
    for marker in markers.markers:
        if _names_insider(marker, insiders, inside_recipients):
            continue
        pool = (now if first_mail else added) if marker.sign == "+" else removed
        hits = _matches(marker, pool)
        if len(hits) == 1:
            matched.add((marker.sign, hits[0].address))
            continue
        violations.append(_stray(marker, hits, first_mail, now, removed, added, unchanged))
    mentioned: set[str] = set()  # late marker lines already named in a missing-marker violation
    changes: tuple[tuple[Literal["+", "-"], list[Recipient]], ...] = (("+", added), ("-", removed))
    for sign, changed in changes:
        for recipient in changed:
            if (sign, recipient.address) not in matched:
                violations.append(_missing(sign, recipient, markers, mentioned))
    for text in dict.fromkeys(markers.misplaced):
        if text not in mentioned:
            violations.append(_late(text))
    return violations


def _names_insider(marker: Marker, insiders: set[str], inside_recipients: Sequence[Recipient]) -> bool:
    if marker.address:
        return marker.address.casefold() in insiders
    return any(names_match(marker.name, r.name, first_name=False) for r in inside_recipients)


def _matches(marker: Marker, pool: Sequence[Recipient]) -> list[Recipient]:
    if marker.address:
        return [r for r in pool if r.address == marker.address.casefold()]
    exact = [r for r in pool if names_match(marker.name, r.name, first_name=False)]
    if exact:
        return exact
    return [r for r in pool if names_match(marker.name, r.name, first_name=True)]


def _stray(
    marker: Marker,
    hits: Sequence[Recipient],
    first_mail: bool,
    now: Sequence[Recipient],
    removed: Sequence[Recipient],
    added: Sequence[Recipient],
    unchanged: Sequence[Recipient],
) -> Violation:
    line = marker.display()
    if hits:
        why = (
            f"{line} could mean any of {describe_recipients(hits)}. "
            "Fix: write the full name or the address in the marker."
        )
        return Violation(RULE, "a marker is ambiguous: it names more than one recipient", why)
    if marker.sign == "-" and first_mail:
        why = (
            f"{line} removes someone, but this is the first mail of the conversation: there is no one to remove. "
            "Fix: delete the marker line."
        )
    else:
        opposite = _matches(marker, added if marker.sign == "-" else removed)
        still = _matches(marker, unchanged)
        if opposite:
            other: Literal["+", "-"] = "+" if marker.sign == "-" else "-"
            why = (
                f"{line} does not match the change: {describe_recipients(opposite)} is being "
                f"{'added' if other == '+' else 'removed'}. Fix: write {display_line(other, opposite[0])} instead."
            )
        elif still and marker.sign == "+":
            why = (
                f"{line}: {describe_recipients(still)} already received the previous mail of this conversation. "
                "Fix: delete the marker line."
            )
        elif still:
            why = (
                f"{line}: {describe_recipients(still)} would still receive this mail. "
                "Fix: delete the marker line, or take them off the recipients."
            )
        elif marker.sign == "+":
            who = describe_recipients(now) if now else "no one outside the committee"
            why = (
                f"{line} names no one this mail would go to (it would go to: {who}). "
                "Fix: correct the name, or give the address of someone new to the case: "
                "[+ Name <address>]."
            )
        else:
            why = (
                f"{line} names no one who received the previous mail of this conversation. "
                "Fix: correct the name or address, or delete the marker line."
            )
    return Violation(RULE, "a recipient-change marker matches no change of recipients", why)


def _missing(sign: Literal["+", "-"], recipient: Recipient, markers: Markers, mentioned: set[str]) -> Violation:
    who = describe_recipients([recipient])
    line = display_line(sign, recipient)
    if sign == "+":
        summary = "an added recipient has no [+ ...] marker at the top"
        what = f"{who} would receive this mail but did not receive the previous mail of this conversation."
    else:
        summary = "a removed recipient has no [- ...] marker at the top"
        what = f"{who} received the previous mail of this conversation but would not receive this one."
    detail = f"{what}\nFix: add this line {_TOP}:\n    {line}"
    late = [text for text in markers.misplaced if _late_marker_matches(text, sign, recipient)]
    if late:
        mentioned.add(late[0])
        detail += f'\nThe marker "{late[0]}" further down does not count: markers must come {_TOP}.'
    return Violation(RULE, summary, detail)


def _late(text: str) -> Violation:
    detail = (
        f'"{text}" comes after other text, so it does not count as a recipient change: the recipients were '
        f"not changed by it, and they would read a change that did not happen.\n"
        f"Fix: move it {_TOP}, each marker on a line of its own, or delete it."
    )
    return Violation(RULE, "a recipient-change marker below other text does not count", detail)


def _late_marker_matches(text: str, sign: str, recipient: Recipient) -> bool:
    return any(m.sign == sign and _matches(m, [recipient]) for m in parse_markers(text).markers)
