"""Templated notices that a chair approves before they leave.

"All communications should be reviewed by the chair before being sent" is how the manuals keep
the committee speaking with one voice: a notice (status update, feedback request, right of reply,
resolution, ...) is drafted by a member (``/draft NOTICE``) or by a deadline, rendered from its
template, and sent to the chair(s) as an approval request carrying a single-use token. Only an
authenticated chair who is not conflicted on the case (or the configured fallback when every chair
is) can approve; an approved notice still passes the policy gate before it is queued.

States: awaiting_approval -> approved -> sent | held; awaiting_approval -> rejected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.case import diary, parties
from mailflow.case import service as cases
from mailflow.case.entries import DraftRequested
from mailflow.drafting import audience, feedback, wording
from mailflow.drafting.context import DraftingContext
from mailflow.errors import DraftError
from mailflow.model import core as t
from mailflow.notices import catalogue
from mailflow.outbound.render import TemplateError
from mailflow.parse.addresses import new_token
from mailflow.policy.outgoing import Recipient

AWAITING = "awaiting_approval"
APPROVED = "approved"
REJECTED = "rejected"
SENT = "sent"
HELD = "held"

BEGIN_EDIT = "--- begin notice ---"
END_EDIT = "--- end notice ---"
TOKEN_LINE = "Approval token:"
PLACEHOLDER = "[to be completed before approval]"
"""What a notice the service drafted itself (a status update, an escalation) carries where only the
committee can say what goes: a draft still holding it cannot be approved as it is."""

_d = t.notice_draft.c
_INSERT = t.notice_draft.insert().returning(_d.id)
_BY_ID = select(t.notice_draft).where(_d.id == bindparam("draft_id"))
_BY_TOKEN = select(t.notice_draft).where(_d.token == bindparam("token"))
_UPDATE = t.notice_draft.update().where(_d.id == bindparam("draft_id"))
_CASE = select(t.cases.c.id, t.cases.c.ref).where(t.cases.c.id == bindparam("case_id"))
_CASE_OPENED: Select[int, str, datetime] = select(t.cases.c.id, t.cases.c.ref, t.cases.c.created_at).where(
    t.cases.c.id == bindparam("case_id")
)
_GROUP = select(t.notice_draft).where(_d.group_id == bindparam("group_id")).order_by(_d.id)
_CASE_RESOLUTION = select(t.cases.c.resolution).where(t.cases.c.id == bindparam("case_id"))
_SENT_OF_NOTICE = select(_d.id).where(
    _d.case_id == bindparam("case_id"), _d.notice == bindparam("notice"), _d.state == SENT
)


PROMISED_DATES = ("reply_by", "feedback_by", "respond_by", "answer_by", "ends_on")
"""Template keys whose date a sent notice promises: each becomes a deadline of the case."""


@dataclass(frozen=True, slots=True)
class NoticeDraftView:
    id: int
    case_id: int
    notice: str
    owner: str
    state: str
    conversation_id: int | None
    recipients: tuple[Recipient, ...]
    subject: str
    text: str
    token: str
    detail: Mapping[str, Any]
    group_id: int | None = None

    @property
    def values(self) -> Mapping[str, Any]:
        """The values the notice was filled with (``key: value`` lines and the service's own)."""
        found = self.detail.get("values")
        return found if isinstance(found, dict) else {}


def _view(row: Any) -> NoticeDraftView:
    m = row._mapping
    return NoticeDraftView(
        m["id"],
        m["case_id"],
        m["notice"],
        m["owner"],
        m["state"],
        m["conversation_id"],
        tuple(Recipient(r["address"], r.get("name", "")) for r in m["recipients"]),
        m["subject"],
        m["text"],
        m["token"],
        m["detail"] or {},
        m["group_id"],
    )


def get(conn: Connection, draft_id: int) -> NoticeDraftView | None:
    row = conn.execute(_BY_ID, {"draft_id": draft_id}).first()
    return _view(row) if row else None


def by_token(conn: Connection, token: str) -> NoticeDraftView | None:
    row = conn.execute(_BY_TOKEN, {"token": token}).first()
    return _view(row) if row else None


def group_of(conn: Connection, draft: NoticeDraftView) -> list[NoticeDraftView]:
    """The drafts of one notice, one per addressee, that one approval decides."""
    if draft.group_id is None:
        return [draft]
    return [_view(row) for row in conn.execute(_GROUP, {"group_id": draft.group_id})] or [draft]


def was_sent(conn: Connection, case_id: int, notice: str) -> bool:
    return conn.execute(_SENT_OF_NOTICE, {"case_id": case_id, "notice": notice}).first() is not None


# -- drafting ---------------------------------------------------------------------------------------


def make(
    conn: Connection,
    ctx: DraftingContext,
    case_id: int,
    notice_name: str,
    *,
    owner: str,
    values: Mapping[str, Any],
    now: datetime,
    message: str = "",
    detail: Mapping[str, Any] | None = None,
) -> tuple[list[NoticeDraftView], list[Recipient]]:
    """Render a notice for each of the case's addressees (each their own mail, in their own
    conversation), stored awaiting approval: the group, and the addressees left out (they asked for
    no further contact). :func:`mailflow.drafting.approval.ask` makes them and asks the chairs."""
    try:
        known = catalogue.notice(notice_name)
    except TemplateError as exc:
        raise DraftError(str(exc)) from None
    window = timedelta(days=ctx.settings.notices.feedback_window_days)
    refused = feedback.refuses(conn, case_id, known.name, window, now)
    if refused:
        raise DraftError(refused)
    case_id, ref, created_at = conn.execute(_CASE_OPENED, {"case_id": case_id}).one()
    everyone = audience.recipients_for(conn, ctx, case_id, known.name)
    barred = parties.no_contact(conn, case_id)
    recipients = tuple(r for r in everyone if r.address.lower() not in barred)
    if not recipients:
        raise DraftError("every addressee of this notice asked for no further contact (/revoke NAME no-contact ENTRY)")
    context = wording.fill(notice_name, {**wording.defaults(ctx, created_at, now), **values}, message)
    promised = {k: str(context[k]) for k in PROMISED_DATES if k in known.keys and context.get(k)}
    made: list[NoticeDraftView] = []
    for recipient in recipients:
        one = (recipient,)
        conversation = audience.conversation_for(
            conn, case_id, one, label=f"{known.name}: {recipient.name or 'addressee'}"
        )
        reply_address = cases.address_of(ctx.conduct, ref, conversation)
        subject, text = wording.render(ctx, ref, notice_name, one, reply_address, context)
        draft_id: int = conn.execute(
            _INSERT,
            {
                "case_id": case_id,
                "notice": notice_name,
                "owner": owner,
                "state": AWAITING,
                "conversation_id": conversation.id,
                "recipients": [{"name": r.name, "address": r.address} for r in one],
                "subject": subject,
                "text": text,
                "token": new_token(),
                "created_at": now,
                "edited": False,
                "group_id": made[0].id if made else None,
                "detail": {
                    **dict(detail or {}),
                    "values": {k: str(v) for k, v in values.items()},
                    "promised": promised,
                },
            },
        ).scalar_one()
        if not made:
            conn.execute(_UPDATE, {"draft_id": draft_id, "group_id": draft_id})
        draft = get(conn, draft_id)
        assert draft is not None
        entry = DraftRequested(draft_id, notice_name, AWAITING)
        diary.append(conn, case_id, entry, at=now, actor=owner, subject=subject, new_text=text)
        made.append(draft)
    return made, [r for r in everyone if r not in recipients]
