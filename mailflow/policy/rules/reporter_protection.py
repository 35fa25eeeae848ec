"""Rule ``reporter-protection``: a reporter's or harmed person's identity and words stay inside.

Sources:

* django-communications-guidelines.md line 11: "Protecting reporters is our first priority. Never
  forward communication or disclose identities of reporters outside of the code of conduct
  committee, without the express written permission of the person concerned."
* django-enforcement-manual.md lines 175-177: "The identity of the reporter and any harmed
  individual(s) must be kept strictly confidential. This information will not be shared beyond the
  working group members handling the case" (hence harmed persons are protected like reporters).

For each protected person without recorded written permission (``Protected.permitted``):

* If every outside recipient is that person themself (one of their addresses), there is nothing to
  check for them: they may read their own name and their own words.
* Otherwise every surface the recipients can read is searched with the exposure detector
  (:func:`mailflow.policy.exposure.find_exposures`) for every name form, address and alias the case
  knows, and (:func:`~mailflow.policy.exposure.find_quotations`) for runs of their own words: "never
  forward communication" covers quoting, forwarding and attaching their messages.

Headers (decision): every top-level header field a recipient can read is scanned, except
signatures and MIME structure fields (:func:`mailflow.policy.gate.visible_header_names`). The To
and Cc fields are scanned as well: they legitimately name the recipients, but a rule only scans for
a person when someone other than that person is an outside recipient, and then the person's name or
address in To/Cc is exactly what those others would see. So a protected person written to together
with anyone else is held (the fix is to write to them separately), and a recipient's own identity
never counts against them because only protected identities are searched for.
"""

from __future__ import annotations

from mailflow.policy.exposure import Exposure, find_exposures, find_quotations
from mailflow.policy.gate import (
    Outgoing,
    Protected,
    Recipient,
    Violation,
    exposure_detail,
    in_recipient_header,
    others_than,
    outside_recipients,
    visible_header_names,
)

RULE = "reporter-protection"


def check(outgoing: Outgoing) -> list[Violation]:
    outside = outside_recipients(outgoing.recipients, outgoing.insiders)
    if not outside:
        return []
    watched: list[tuple[Protected, tuple[Recipient, ...]]] = []  # (person, the others who would read it)
    for person in outgoing.protected:
        others = others_than(outside, person.identity)
        if others and not person.permitted:
            watched.append((person, others))
    if not watched:
        return []
    headers = visible_header_names(outgoing.raw)
    # One pass over the message for all of them; findings are grouped back by person, in case order.
    exposures = find_exposures(outgoing.raw, [p.identity for p, _ in watched], header_names=headers)
    texts = [text for p, _ in watched for text in p.texts]
    quotations = find_quotations(outgoing.raw, texts) if texts else []
    violations: list[Violation] = []
    for person, others in watched:
        label = person.identity.label
        own_texts = {text_label for text_label, _ in person.texts}
        for exposure in exposures:
            if exposure.label == label:
                violations.append(_identity_violation(label, exposure, others))
        for exposure in quotations:
            if exposure.label in own_texts:
                violations.append(_quotation_violation(label, exposure, others))
    return violations


def _permission(label: str) -> str:
    return (
        f"or, if {label} gave written permission to disclose, record it with the permission command "
        f"(/permission NAME ENTRY: the diary entry holding it) and send the mail again."
    )


def _identity_violation(label: str, exposure: Exposure, others: tuple[Recipient, ...]) -> Violation:
    if in_recipient_header(exposure):
        fix = f"{label} is a recipient together with others, who would see it: write to {label} separately, "
    else:
        fix = "remove it (and every other place it appears), "
    return Violation(
        RULE,
        f"{label}'s identity ({exposure.form}) would reach someone outside the committee",
        exposure_detail(exposure, others, fix + _permission(label)),
    )


def _quotation_violation(label: str, exposure: Exposure, others: tuple[Recipient, ...]) -> Violation:
    fix = f"remove the passage: the words of {label} must not be quoted, forwarded or attached, " + _permission(label)
    return Violation(
        RULE,
        f"words {label} wrote would reach someone outside the committee",
        exposure_detail(exposure, others, fix, source=exposure.label),
    )
