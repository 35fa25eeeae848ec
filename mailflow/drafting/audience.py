"""Who a notice goes to: the case's people of its audience, each in a conversation of their own."""

from __future__ import annotations

from sqlalchemy import Connection

from mailflow.case import conversations, parties
from mailflow.case import service as cases
from mailflow.drafting.context import DraftingContext
from mailflow.errors import DraftError
from mailflow.model import ConversationKind, PartyRole
from mailflow.policy.outgoing import Recipient

_AUDIENCE_ROLES = {
    "reporter": (PartyRole.REPORTER,),
    "reported": (PartyRole.REPORTED,),
    "harmed": (PartyRole.HARMED,),
    "witness": (PartyRole.WITNESS,),
    "mediation": (PartyRole.REPORTER, PartyRole.REPORTED, PartyRole.MEDIATOR),
}


def recipients_for(conn: Connection, ctx: DraftingContext, case_id: int, notice: str) -> tuple[Recipient, ...]:
    audience = notice.partition("/")[0]
    if audience == "board":
        board = ctx.settings.notices.board_address
        if not board:
            raise DraftError("no board address is configured ([notices] board_address)")
        return (Recipient(board, "Board"),)
    roles = _AUDIENCE_ROLES.get(audience)
    if roles is None:
        raise DraftError(f"no recipients are known for notices to {audience!r}")
    found = tuple(
        Recipient(p.address.lower(), p.name or "")
        for p in parties.of_case(conn, case_id)
        if p.role in roles and p.address
    )
    if not found:
        named = " or ".join(r.value for r in roles)
        raise DraftError(f"the case has no {named} with an address yet (add one with /party)")
    return found


def conversation_for(
    conn: Connection, case_id: int, recipients: tuple[Recipient, ...], label: str
) -> cases.ConversationRef:
    """The outside conversation these recipients are in, else a new one of their own."""
    wanted = {r.address for r in recipients}
    for conv, people in cases.conversations_of(conn, case_id):
        if conv.kind is ConversationKind.OUTSIDE and wanted == {p.get("address", "").lower() for p in people}:
            return conv
    return conversations.start(conn, case_id, label=label)
