"""Rule ``reporter-protection``: a reporter's or harmed person's identity, words and files stay inside.

Sources:

* django-communications-guidelines.md line 11: "Protecting reporters is our first priority. Never
  forward communication or disclose identities of reporters outside of the code of conduct
  committee, without the express written permission of the person concerned."
* django-enforcement-manual.md lines 175-177: "The identity of the reporter and any harmed
  individual(s) must be kept strictly confidential. This information will not be shared beyond the
  working group members handling the case" (hence harmed persons are protected like reporters).

For each protected person without recorded written permission (``Protected.permitted``):

* If every outside recipient is that person themself (one of their addresses), there is nothing to
  check for them: they may read their own name, their own words and their own files.
* Otherwise every surface the recipients can read (the MIME reading's surfaces: headers, every
  part, every attachment in every format, forwarded messages) is searched for every name form,
  address, alias and phone number the case knows (:func:`mailflow.policy.exposure.find_exposures`),
  for runs of eight words of anything they gave us (:func:`~mailflow.policy.exposure.find_quotations`:
  "never forward communication" covers quoting, forwarding and attaching their messages, whatever
  part of them it was), and every attachment is compared by SHA-256 with the files they sent.
  Sentences the committee itself wrote on the case are not theirs, even when they quoted them back.

Headers (decision): every top-level header field a recipient can read is scanned, except
signatures and MIME structure fields (:func:`mailflow.policy.outgoing.visible_header_names`). The To
and Cc fields are scanned as well: they legitimately name the recipients, but a rule only scans for
a person when someone other than that person is an outside recipient, and then the person's name or
address in To/Cc is exactly what those others would see. So a protected person written to together
with anyone else is held (the fix is to write to them separately), and a recipient's own identity
never counts against them because only protected identities are searched for.
"""

from __future__ import annotations

from mailflow.mime.surfaces import Surfaces
from mailflow.policy.exposure import Exposure, find_exposures, find_quotations
from mailflow.policy.outgoing import (
    Outgoing,
    Recipient,
    Violation,
    describe_recipients,
    exposure_detail,
    in_recipient_header,
    watched,
)

RULE = "reporter-protection"


def check(outgoing: Outgoing, seen: Surfaces) -> list[Violation]:
    people = watched(outgoing)
    if not people:
        return []
    # One pass over the message for all of them; findings are grouped back by person, in case order.
    exposures = find_exposures(seen.surfaces, [p.identity for p, _ in people])
    texts = [text for p, _ in people for text in p.texts]
    quotations = find_quotations(seen.surfaces, texts, exclude=outgoing.ours) if texts else []
    violations: list[Violation] = []
    for person, others in people:
        label = person.identity.label
        own_texts = {text_label for text_label, _ in person.texts}
        for exposure in exposures:
            if exposure.label == label:
                violations.append(_identity_violation(label, exposure, others))
        for exposure in quotations:
            if exposure.label in own_texts:
                violations.append(_quotation_violation(label, exposure, others))
        for where, sha in seen.files:
            if sha in person.hashes:
                violations.append(_file_violation(label, where, others))
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


def _file_violation(label: str, where: str, others: tuple[Recipient, ...]) -> Violation:
    return Violation(
        RULE,
        f"a file {label} sent us would reach someone outside the committee",
        f"The {where} is byte for byte a file {label} sent to the committee.\n"
        f"It would reach: {describe_recipients(others)}\n"
        f"Fix: remove the attachment, {_permission(label)}",
    )
