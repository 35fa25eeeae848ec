"""Rule ``committee-only``: what the committee writes for itself never reaches a party.

Notes, command lines, approval requests and their tokens, the fan-out copies of case mail and every
internal address are the committee's own: the enforcement manual keeps the case "strictly
confidential ... not shared beyond the working group members handling the case"
(django-enforcement-manual.md lines 175-177), and an internal address in an outsider's hands would
let them write into the committee's own thread. The caller names them
(``Outgoing.committee_only``): addresses and tokens are matched as strings anywhere in the mail
(its bytes too, so no encoding hides them), notes by their words like a quotation. Unlike
reporter protection this holds whoever the recipient is: the reporter does not read the
committee's notes about her either.
"""

from __future__ import annotations

from mailflow.mime.surfaces import Surfaces
from mailflow.policy.exposure import Exposure, find_quotations
from mailflow.policy.outgoing import (
    CommitteeOnly,
    Outgoing,
    Recipient,
    Violation,
    describe_recipients,
    exposure_detail,
    outside_recipients,
)

RULE = "committee-only"
_MIN_WORDS = 6  # a note is short: six of its words in a row are its words


def check(outgoing: Outgoing, seen: Surfaces) -> list[Violation]:
    outside = outside_recipients(outgoing.recipients, outgoing.insiders)
    if not outside or not outgoing.committee_only:
        return []
    violations: list[Violation] = []
    raw = outgoing.raw.lower()
    for secret in outgoing.committee_only:
        if secret.literal and _literal_found(secret, seen, raw):
            violations.append(_literal_violation(secret, outside))
    notes = [(s.label, s.text) for s in outgoing.committee_only if not s.literal]
    if notes:
        for exposure in find_quotations(seen.surfaces, notes, min_words=_MIN_WORDS):
            violations.append(_note_violation(exposure, outside))
    return violations


def _literal_found(secret: CommitteeOnly, seen: Surfaces, raw: bytes) -> bool:
    needle = secret.text.casefold()
    if not needle:
        return False
    return needle.encode("utf-8") in raw or any(needle in s.text.casefold() for s in seen.surfaces)


def _literal_violation(secret: CommitteeOnly, outside: tuple[Recipient, ...]) -> Violation:
    return Violation(
        RULE,
        f"the mail carries {secret.label}, which is the committee's own",
        f"It contains {secret.label} ({secret.text}), usually inside a quoted copy of a committee mail.\n"
        f"It would reach: {describe_recipients(outside)}\n"
        "Fix: delete the quoted committee mail (and the line holding it) and send again.",
    )


def _note_violation(exposure: Exposure, outside: tuple[Recipient, ...]) -> Violation:
    return Violation(
        RULE,
        "the mail quotes what the committee wrote for itself",
        exposure_detail(
            exposure,
            outside,
            "remove the passage: notes, commands and approvals stay inside the committee.",
            source=exposure.label,
        ),
    )
