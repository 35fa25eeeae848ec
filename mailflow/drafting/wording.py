"""What a notice says: the values the service knows, the member's text, the rendered template."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from mailflow.drafting.context import DraftingContext
from mailflow.errors import DraftError, TemplateError
from mailflow.notices import catalogue
from mailflow.parse.subject import with_tag
from mailflow.policy.outgoing import Recipient


def defaults(ctx: DraftingContext, created_at: datetime, now: datetime) -> dict[str, Any]:
    """Values a notice may use that the service knows (a member's ``key: value`` lines win)."""
    notices = ctx.settings.notices
    return {
        "resolution_days": notices.status_update_days,
        "acknowledgement_hours": notices.acknowledgement_hours,
        "mediation_days": notices.mediation_days,
        "feedback_by": (now + timedelta(days=notices.feedback_window_days)).date(),
        "reply_by": (now + timedelta(days=14)).date(),
        "answer_by": (now + timedelta(days=7)).date(),
        "respond_by": (now + timedelta(days=14)).date(),
        "opened_on": created_at.date(),
        "board_name": "the board",
    }


def fill(notice_name: str, values: Mapping[str, Any], message: str) -> dict[str, Any]:
    """The member's free text goes to the notice's first required key they did not give."""
    filled = dict(values)
    if message.strip():
        for key in catalogue.notice(notice_name).required:
            if key not in filled:
                filled[key] = message.strip()
                break
    return filled


def render(
    ctx: DraftingContext,
    case_ref: str,
    notice_name: str,
    recipients: tuple[Recipient, ...],
    reply_address: str,
    values: Mapping[str, Any],
) -> tuple[str, str]:
    service = ctx.settings.service
    context = {
        **catalogue.common_context(
            committee_name=service.committee_name,
            conduct_address=str(ctx.conduct),
            tag=service.subject_tag,
            ref=case_ref,
            reply_address=reply_address,
            recipient_name=recipients[0].name if len(recipients) == 1 else None,
        ),
        **values,
    }
    item = catalogue.notice(notice_name)
    context = {k: v for k, v in context.items() if k in item.keys}
    try:
        rendered = catalogue.render_notice(ctx.renderer, notice_name, context)
    except TemplateError as exc:
        raise DraftError(str(exc)) from None
    return with_tag(rendered.subject, service.subject_tag, case_ref), rendered.text
