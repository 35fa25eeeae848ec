"""Rule ``no-contact``: nothing goes to a person who asked for no further contact.

Source: jupyter-enforcement-manual.md line 93: a reporter "may at their discretion refuse further
contact with the violator". Any party may ask the committee for no further contact; a member
records it from the person's own message (``/no-contact NAME ENTRY``) and the caller passes their
addresses (``Outgoing.no_contact``). A mail with such a recipient is held: writing to them anyway
is a chair's decision (a release, with the reason in the diary), or the person's own word taken
back (``/revoke NAME no-contact ENTRY``).
"""

from __future__ import annotations

from mailflow.mime.surfaces import Surfaces
from mailflow.policy.outgoing import Outgoing, Violation

RULE = "no-contact"


def check(outgoing: Outgoing, seen: Surfaces) -> list[Violation]:
    return [
        Violation(
            RULE,
            "a recipient asked for no further contact",
            f"{recipient.name or 'The recipient'} <{recipient.address}> asked the committee for no further contact"
            " (recorded with /no-contact). Remove them from the recipients ([- Name] at the top), or ask a chair.",
        )
        for recipient in outgoing.recipients
        if recipient.address.lower() in outgoing.no_contact
    ]
