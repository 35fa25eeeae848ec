"""Rule ``recipients``: a mail that would leave the committee has someone to go to.

A conversation whose recipients were all removed, or a relay to a conversation nobody was ever
added to, would silently go nowhere: the member is told instead, with the way to add someone
(django-communications-guidelines.md lines 12-17: recipients change by a marker at the top).
"""

from __future__ import annotations

from mailflow.mime.surfaces import Surfaces
from mailflow.policy.outgoing import Outgoing, Violation

RULE = "recipients"


def check(outgoing: Outgoing, seen: Surfaces) -> list[Violation]:
    if outgoing.recipients:
        return []
    return [
        Violation(
            RULE,
            "this conversation has no outside recipients",
            "Add one with a line like [+ Name <address>] at the very top of the mail.",
        )
    ]
