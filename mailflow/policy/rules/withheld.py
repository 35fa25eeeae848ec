"""Rule ``withheld-identity``: the reported person's identity is held back from third parties.

Source: django-enforcement-manual.md lines 185-186: "The identity of the accused individual should
be kept confidential during the investigation and resolution process." The caller decides when an
identity is withheld (``Outgoing.withheld``: the reported person while the case is under
investigation) and from whom (it passes nothing when the mail goes only to people who may know).

Same approach as ``reporter-protection``: when every outside recipient is the person themself
there is nothing to check; otherwise every readable surface (the same header fields, every MIME
part) is searched for each name form, address and alias of the identity. There is no permission
to record here: the fix is to remove it (the manual's exceptions, such as communicating a ban, are
decisions the caller expresses by no longer withholding the identity).
"""

from __future__ import annotations

from mailflow.mime.surfaces import Surfaces
from mailflow.policy.exposure import find_exposures
from mailflow.policy.outgoing import (
    Outgoing,
    Violation,
    exposure_detail,
    in_recipient_header,
    others_than,
    outside_recipients,
)

RULE = "withheld-identity"


def check(outgoing: Outgoing, seen: Surfaces) -> list[Violation]:
    outside = outside_recipients(outgoing.recipients, outgoing.insiders)
    if not outside or not outgoing.withheld:
        return []
    violations: list[Violation] = []
    for identity in outgoing.withheld:
        others = others_than(outside, identity)
        if not others:
            continue
        label = identity.label
        for exposure in find_exposures(seen.surfaces, [identity]):
            if in_recipient_header(exposure):
                fix = f"{label} is a recipient together with others, who would see it: write to {label} separately."
            else:
                fix = "remove it (and every other place it appears)."
            fix += f" While the case is under investigation, {label}'s identity is held back from third parties."
            violations.append(
                Violation(
                    RULE,
                    f"{label}'s identity ({exposure.form}) is withheld from third parties now and would reach one",
                    exposure_detail(exposure, others, fix),
                )
            )
    return violations
