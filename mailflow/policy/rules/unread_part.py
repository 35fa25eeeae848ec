"""Rule ``unread-part``: what the gate could not read to the end does not leave (fail closed).

The gate decides on what it has read. An image's pixels, an encrypted or password-protected file,
a format no reader knows, a damaged archive, anything beyond the reading's budget: any of them can
carry a reporter's name, face or words, and the gate would pass it blind. So on a mail that must
protect someone (a reporter or harmed person without written permission, and an outside recipient
who is not that person) every part that was not read to the end holds the mail, with the place and
the reason. Sources: django-communications-guidelines.md line 11 ("Never forward communication or
disclose identities of reporters outside of the code of conduct committee, without the express
written permission of the person concerned") and the enforcement manual's "kept strictly
confidential" (django-enforcement-manual.md lines 175-177): when in doubt, hold and ask a chair.

A chair may release one held mail (``mailflow held release``, or a reply to the hold notice): the
release is a diary entry naming the chair and the reason.
"""

from __future__ import annotations

from mailflow.mime.surfaces import Surfaces
from mailflow.policy.outgoing import Outgoing, Violation, describe_recipients, watched

RULE = "unread-part"
_SHOWN = 20


def check(outgoing: Outgoing, seen: Surfaces) -> list[Violation]:
    if not seen.unread:
        return []
    people = watched(outgoing)
    if not people:
        return []
    labels = ", ".join(person.identity.label for person, _ in people)
    readers = tuple({r.address: r for _, others in people for r in others}.values())
    violations = [
        Violation(
            RULE,
            f"a part the gate could not read to the end ({unread.reason})",
            f"{unread.where}: {unread.reason}.\n"
            f"The gate cannot tell whether it shows {labels}, and it would reach: {describe_recipients(readers)}\n"
            "Fix: remove it (send its text in the mail instead), or ask a chair to release this mail after"
            " looking at it (mailflow held release, or a reply to the hold notice).",
        )
        for unread in seen.unread[:_SHOWN]
    ]
    if len(seen.unread) > _SHOWN:
        violations.append(
            Violation(RULE, f"{len(seen.unread) - _SHOWN} more parts the gate could not read", "Fix: as above.")
        )
    return violations
