"""The policy gate: every rule, run on one outgoing mail, gathered into one typed decision.

Pure code: the caller gathers the inputs (recipients, the conversation's previous recipients, the
case's protected people and what they gave us, what the committee wrote for itself) into an
:class:`~mailflow.policy.outgoing.Outgoing` and calls :func:`evaluate`; nothing here touches the
database, the network or a log. The mail is read once, by the one MIME reading
(``mailflow.mime``), and every rule judges that reading. The rules, one per module under
``mailflow/policy/rules/``, each citing the line of the manuals it implements:

* ``recipients`` (rules/recipients.py): a mail with no outside recipient goes nowhere.
* ``no-contact`` (rules/no_contact.py): jupyter-enforcement-manual.md line 93, a reporter "may at
  their discretion refuse further contact with the violator": nothing goes to a person who asked.
* ``recipient-markers`` (rules/recipient_markers.py): django-communications-guidelines.md lines
  12-17, "If adding or removing people from the recipients list of an email thread, note the
  change at the top of the email, like this: [+ John] [- Eric]".
* ``reporter-protection`` (rules/reporter_protection.py): django-communications-guidelines.md
  line 11, "Never forward communication or disclose identities of reporters outside of the code of
  conduct committee, without the express written permission of the person concerned", and
  django-enforcement-manual.md lines 175-177 (reporter and harmed individual(s)).
* ``withheld-identity`` (rules/withheld.py): django-enforcement-manual.md lines 185-186, "The
  identity of the accused individual should be kept confidential during the investigation and
  resolution process."
* ``committee-only`` (rules/committee_only.py): what the committee writes for itself (notes,
  command lines, approval requests and tokens, internal addresses) stays with the committee
  (django-enforcement-manual.md: records "will not be shared beyond the working group members
  handling the case").
* ``unread-part`` (rules/unread_part.py): the gate decides on what it has read, so a part it could
  not read to the end (an image, an encrypted file, anything over the budget) holds a mail that
  must protect someone, until a chair releases it.
"""

from __future__ import annotations

from collections.abc import Callable

from mailflow.mime.reading import Budget
from mailflow.mime.surfaces import Surfaces, read_surfaces
from mailflow.mime.tree import read_message
from mailflow.policy.outgoing import Decision, Outgoing, Violation, visible_header_names
from mailflow.policy.rules import (
    committee_only,
    no_contact,
    recipient_markers,
    recipients,
    reporter_protection,
    unread_part,
    withheld,
)

Rule = Callable[[Outgoing, Surfaces], list[Violation]]

RULES: tuple[tuple[str, Rule], ...] = (
    (recipients.RULE, recipients.check),  # someone outside must receive it
    (no_contact.RULE, no_contact.check),  # nobody who asked for no further contact
    (recipient_markers.RULE, recipient_markers.check),  # [+ John] / [- Eric] at the top
    (reporter_protection.RULE, reporter_protection.check),  # no reporter's identity, words or files
    (withheld.RULE, withheld.check),  # the reported person held back from third parties
    (committee_only.RULE, committee_only.check),  # notes, commands, tokens, internal addresses
    (unread_part.RULE, unread_part.check),  # fail closed: what was not read to the end does not leave
)
"""Every rule runs on every mail and all violations are gathered, so the member fixes everything
at once instead of meeting the problems one send at a time. An exception inside a rule (or the
reading) propagates: the caller never gets an ``allowed`` decision, so nothing is sent."""


def evaluate(outgoing: Outgoing, budget: Budget | None = None) -> Decision:
    """Read ``outgoing.raw`` once and run every rule on it."""
    budget = budget or Budget()
    tree = read_message(outgoing.raw, budget)
    seen = read_surfaces(tree, visible_header_names(tree), budget)
    violations: list[Violation] = []
    for _, check in RULES:
        violations.extend(check(outgoing, seen))
    return Decision(not violations, tuple(violations))
