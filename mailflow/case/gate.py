"""The policy gate on one case's outgoing mail: the pure gate, given everything the case protects.

Relays (``mailflow.route``) and notices (``mailflow.drafting``) both call this, from above: it
gathers the case's protected people, their words and files, what the committee wrote for itself
(``mailflow.case.protection``) and the internal addresses of any case the mail mentions, and asks
the gate (``mailflow.policy``) to judge the bytes exactly as they would leave.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection

from mailflow.case import parties, protection
from mailflow.case import service as cases
from mailflow.parse.addresses import ConductAddress
from mailflow.policy.gate import evaluate
from mailflow.policy.outgoing import CommitteeOnly, Decision, Outgoing, Recipient


def judge(
    conn: Connection,
    case_id: int,
    raw: bytes,
    text: str,
    recipients: tuple[Recipient, ...],
    previous: tuple[Recipient, ...] | None,
    *,
    conduct: ConductAddress,
    insiders: Iterable[str],
) -> Decision:
    """The gate's decision on ``raw`` as it would reach ``recipients`` (``previous``: the
    conversation's recipients before this mail; None for its first mail)."""
    insiders = frozenset(a.lower() for a in insiders) | {str(conduct).lower()}
    guard = protection.of_case(conn, case_id)
    outside = [r for r in recipients if r.address not in guard.protected_addresses]
    internal = [
        CommitteeOnly("another case's internal address", token)
        for token in cases.internal_tokens_in(conn, conduct, raw)
    ]
    return evaluate(
        Outgoing(
            raw=raw,
            top_text=text,
            recipients=recipients,
            previous=previous,
            protected=guard.protected,
            withheld=guard.withheld if outside else (),
            insiders=insiders,
            committee_only=(*guard.committee_only, *internal),
            ours=guard.ours,
            no_contact=parties.no_contact(conn, case_id),
        )
    )
