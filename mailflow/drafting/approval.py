"""The chair's approval: asking for it, reading the reply, and what an approval or a rejection does.

"All communications should be reviewed by the chair before being sent": :func:`ask` drafts a
notice for each addressee and sends the chair(s) one approval request showing each, with a
single-use token. The chair's reply (:func:`parse`) says ``approve`` or ``reject REASON`` on its
first line, or holds an edited notice between the markers of the request, which approves the edit;
the token line is kept by quoting the request, and counts once: a replayed approval is answered
with why. Only a chair who is not excluded from the case (or the configured fallback when every
chair is) decides; an approved notice still passes the policy gate, each addressee's on its own,
and the manuals' process is checked again (a resolution may have been reopened meanwhile).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import conversations, deadlines, diary, gate, standing
from mailflow.case import service as cases
from mailflow.case.entries import DraftDecided, Held
from mailflow.drafting import drafts, feedback
from mailflow.drafting.context import DraftingContext
from mailflow.drafting.drafts import (
    AWAITING,
    BEGIN_EDIT,
    END_EDIT,
    HELD,
    PLACEHOLDER,
    PROMISED_DATES,
    REJECTED,
    SENT,
    TOKEN_LINE,
    NoticeDraftView,
)
from mailflow.errors import DraftError
from mailflow.model import OutboundKind
from mailflow.model import core as t
from mailflow.notices.tone import advice_lines
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft, compose
from mailflow.parse.message import Address
from mailflow.parse.subject import with_tag
from mailflow.policy.outgoing import Decision, Recipient

_d = t.notice_draft.c
_UPDATE = t.notice_draft.update().where(_d.id == bindparam("draft_id"))
_CASE = select(t.cases.c.id, t.cases.c.ref).where(t.cases.c.id == bindparam("case_id"))
_REF: Select[str] = select(t.cases.c.ref).where(t.cases.c.id == bindparam("case_id"))

_TOKEN = re.compile(rf"^[>\s]*{re.escape(TOKEN_LINE)}\s*([a-z0-9]+)\s*$", re.IGNORECASE | re.MULTILINE)
_VERB = re.compile(r"^\s*(approve|approved|reject|rejected)\b[:\s]*(.*)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ApprovalReply:
    token: str
    verb: str  # "approve", "reject" or "edit"
    reason: str = ""
    edited_text: str | None = None


def parse(new_text: str, whole_text: str) -> ApprovalReply | None:
    """The decision in a reply, or None when the mail is not an answer to an approval request."""
    tokens = _TOKEN.findall(whole_text)
    if not tokens:
        return None
    token = tokens[0].lower()
    first = next((line for line in new_text.splitlines() if line.strip()), "")
    match = _VERB.match(first)
    if match is not None:
        verb = "approve" if match[1].lower().startswith("approve") else "reject"
        return ApprovalReply(token, verb, reason=match[2].strip())
    edited = _edited(whole_text)
    if edited is not None:
        return ApprovalReply(token, "edit", edited_text=edited)
    return ApprovalReply(token, "unclear")


def _edited(text: str) -> str | None:
    """The text between the first pair of edit markers that the chair wrote (not in a "> " quote)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().lower() == BEGIN_EDIT)
        end = next(i for i, line in enumerate(lines) if i > start and line.strip().lower() == END_EDIT)
    except StopIteration:
        return None
    return "\n".join(lines[start + 1 : end]).strip("\n")


# -- asking and deciding ----------------------------------------------------------------------------


def ask(
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
) -> NoticeDraftView:
    """Draft a notice for each of its addressees and ask the chair(s) to approve them, in one
    request; the first draft of the group is returned."""
    made, skipped = drafts.make(
        conn, ctx, case_id, notice_name, owner=owner, values=values, now=now, message=message, detail=detail
    )
    ref = conn.execute(_REF, {"case_id": made[0].case_id}).scalar_one()
    _request_approval(conn, ctx, ref, made, skipped, now=now)
    return made[0]


def approvers(conn: Connection, ctx: DraftingContext, case_id: int) -> list[RosterMember]:
    """The chairs not excluded from the case; failing those, the configured fallback."""
    out = standing.excluded(conn, case_id)
    chairs = [m for m in ctx.roster if m.role == "chair" and m.name not in out]
    if chairs:
        return chairs
    fallback = ctx.settings.notices.fallback_approver
    return [m for m in ctx.roster if m.name == fallback and m.name not in out]


def _gate(conn: Connection, ctx: DraftingContext, draft: NoticeDraftView, text: str, now: datetime) -> Decision:
    raw, _ = _compose(conn, ctx, draft, text, now)
    previous = conversations.recipients_of(conn, draft.conversation_id) if draft.conversation_id else ()
    return gate.judge(
        conn,
        draft.case_id,
        raw,
        text,
        draft.recipients,
        previous or None,
        conduct=ctx.conduct,
        insiders=ctx.insiders,
    )


def _case(conn: Connection, case_id: int) -> cases.CaseRef:
    row = conn.execute(_CASE, {"case_id": case_id}).one()
    return cases.CaseRef(row[0], row[1])


def _content(conn: Connection, ctx: DraftingContext, draft: NoticeDraftView, text: str) -> tuple[Draft, str]:
    case = _case(conn, draft.case_id)
    conversation = next(c for c, _ in cases.conversations_of(conn, case.id) if c.id == draft.conversation_id)
    address = cases.address_of(ctx.conduct, case.ref, conversation)
    service = ctx.settings.service
    content = Draft(
        from_name=service.committee_name,
        from_addr=str(ctx.conduct),
        to=tuple(Address(r.name, r.address) for r in draft.recipients),
        subject=draft.subject,
        text=text,
        reply_to=address,
    )
    return content, address


def _compose(
    conn: Connection, ctx: DraftingContext, draft: NoticeDraftView, text: str, now: datetime
) -> tuple[bytes, str]:
    content, address = _content(conn, ctx, draft, text)
    return compose(content, "gate-preview@invalid", now), address


def _request_approval(
    conn: Connection,
    ctx: DraftingContext,
    ref: str,
    group: Sequence[NoticeDraftView],
    skipped: Sequence[Recipient] = (),
    *,
    now: datetime,
) -> None:
    first = group[0]
    chairs = approvers(conn, ctx, first.case_id)
    if not chairs:
        raise DraftError("no chair may approve on this case (all are excluded) and no fallback approver is set")
    several = len(group) > 1
    ids = ", ".join(str(d.id) for d in group)
    lines = [
        f"{first.owner} drafted a notice on case {ref}: {first.notice} (draft{'s' if several else ''} {ids}).",
        (
            f"It goes to each of its {len(group)} addressees as a mail of their own; one approval sends them all."
            if several
            else "It goes out only once a chair approves it."
        ),
    ]
    if skipped:
        lines.append(f"Not drafted for {len(skipped)} addressee(s) who asked for no further contact.")
    for draft in group:
        decision = _gate(conn, ctx, draft, draft.text, now)
        findings = decision.explain() if not decision.allowed else "none: the policy gate would let it through."
        who = ", ".join(f"{r.name} <{r.address}>" if r.name else r.address for r in draft.recipients)
        lines += [
            "",
            f"To: {who}",
            f"Subject: {draft.subject}",
            "",
            BEGIN_EDIT,
            draft.text.rstrip("\n"),
            END_EDIT,
            "",
            "Policy gate findings: " + findings,
        ]
    lines += [
        "",
        *advice_lines(first.text),
        "To decide, reply to this mail (keep the token line below; quoting this mail keeps it):",
        "  approve                 on the first line: it is sent as shown",
        "  reject REASON           on the first line: it is not sent",
        (
            "  (to change the text of a notice with several addressees: reject it and draft it again)"
            if several
            else f"  an edited text between the lines {BEGIN_EDIT!r} and {END_EDIT!r}: the edit is approved and sent"
        ),
        "",
        f"{TOKEN_LINE} {first.token}",
    ]
    team = cases.conversation(conn, first.case_id, cases.TEAM)
    assert team is not None
    outbox.draft(
        conn,
        Draft(
            from_name=ctx.settings.service.committee_name,
            from_addr=str(ctx.conduct),
            to=tuple(Address(m.name, m.addresses[0]) for m in chairs),
            subject=with_tag(
                f"Approval needed: {first.notice} (draft{'s' if several else ''} {ids})",
                ctx.settings.service.subject_tag,
                ref,
            ),
            text="\n".join(lines) + "\n",
            reply_to=cases.address_of(ctx.conduct, ref, team),
            auto_submitted="auto-generated",
        ),
        kind=OutboundKind.APPROVAL_REQUEST,
        case_id=first.case_id,
        conversation_id=team.id,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Decided:
    draft: NoticeDraftView
    state: str
    message: str
    outbound_ids: tuple[int, ...] = ()
    """The mails queued (one per addressee sent)."""


def may_approve(conn: Connection, ctx: DraftingContext, draft: NoticeDraftView, approver: str) -> str | None:
    """Why ``approver`` may not decide this draft, or None when they may."""
    if draft.state != AWAITING:
        return f"draft {draft.id} was already decided ({draft.state}); a token counts once"
    allowed = [m.name for m in approvers(conn, ctx, draft.case_id)]
    if approver not in allowed:
        if approver in standing.excluded(conn, draft.case_id):
            return f"{approver} is excluded from this case and cannot approve its notices"
        return f"only a chair ({', '.join(allowed) or 'none available'}) can approve notices on this case"
    return None


def approve(
    conn: Connection,
    ctx: DraftingContext,
    draft: NoticeDraftView,
    approver: str,
    *,
    now: datetime,
    edited_text: str | None = None,
) -> Decided:
    """Approve a notice: each of its drafts (one per addressee) passes the policy gate on its own;
    what passes is queued, what does not is held for a chair. The manuals' process is checked again
    (a resolution may have been reopened since the draft was made)."""
    refused = may_approve(conn, ctx, draft, approver)
    if refused:
        raise DraftError(refused)
    group = [d for d in drafts.group_of(conn, draft) if d.state == AWAITING]
    edited = edited_text.strip() + "\n" if edited_text and edited_text.strip() else None
    if edited is not None and len(group) > 1:
        raise DraftError(
            f"draft {draft.id} goes to {len(group)} addressees, each with their own text: reject it and draft it again"
            " to change it; nothing was sent"
        )
    window = timedelta(days=ctx.settings.notices.feedback_window_days)
    why_not = feedback.refuses(conn, draft.case_id, draft.notice, window, now)
    if why_not:
        raise DraftError(f"{why_not}; nothing was sent")
    if any(PLACEHOLDER in (edited or one.text) for one in group):
        raise DraftError(
            f"the notice still says {PLACEHOLDER!r} where the committee must write: approve it with the text completed"
            f" (between the lines {BEGIN_EDIT!r} and {END_EDIT!r}), or reject it and draft it again; nothing was sent"
        )
    sent: list[int] = []
    held: list[str] = []
    for one in group:
        outbound_id, finding = _approve_one(conn, ctx, one, approver, edited or one.text, now)
        if outbound_id is not None:
            sent.append(outbound_id)
        else:
            held.append(f"draft {one.id}: {finding}")
    if not held:
        said = f"draft {draft.id} approved and sent" if len(group) == 1 else f"{len(sent)} notices approved and sent"
        return Decided(draft, SENT, said, tuple(sent))
    said = "approved, but the policy gate held " + (
        "it:\n" + held[0].partition(": ")[2] if len(group) == 1 else f"{len(held)} of {len(group)}:\n" + "\n".join(held)
    )
    return Decided(draft, HELD if not sent else SENT, said, tuple(sent))


def _approve_one(
    conn: Connection, ctx: DraftingContext, draft: NoticeDraftView, approver: str, text: str, now: datetime
) -> tuple[int | None, str]:
    decision = _gate(conn, ctx, draft, text, now)
    values: dict[str, Any] = {
        "draft_id": draft.id,
        "decided_at": now,
        "decided_by": approver,
        "text": text,
        "edited": text != draft.text,
    }
    if not decision.allowed:
        conn.execute(_UPDATE, {**values, "state": HELD, "reason": "; ".join(v.summary for v in decision.violations)})
        rules = tuple(sorted({v.rule for v in decision.violations}))
        held = Held("notice", rules, tuple(v.summary for v in decision.violations[:20]), approver, draft.id)
        diary.append(conn, draft.case_id, held, at=now, actor=approver, subject=draft.subject)
        return None, decision.explain()
    content, _ = _content(conn, ctx, draft, text)
    sent = outbox.draft(
        conn,
        content,
        kind=OutboundKind.NOTICE,
        case_id=draft.case_id,
        conversation_id=draft.conversation_id,
        now=now,
    )
    if draft.conversation_id is not None:
        conversation = next(c for c, _ in cases.conversations_of(conn, draft.case_id) if c.id == draft.conversation_id)
        conversations.set_recipients(conn, conversation, draft.recipients, by=approver, now=now)
    conn.execute(_UPDATE, {**values, "state": SENT, "outbound_id": sent.id, "reason": None})
    decided = DraftDecided(draft.id, draft.notice, SENT, edited=text != draft.text)
    diary.append(conn, draft.case_id, decided, at=now, actor=approver)
    _plan_promised_dates(conn, draft, approver, now)
    return sent.id, ""


def _plan_promised_dates(conn: Connection, draft: NoticeDraftView, approver: str, now: datetime) -> None:
    """Every date the sent notice promised (reply by, feedback by, ends on ...) becomes a deadline."""
    promised = draft.detail.get("promised")
    dates = promised if isinstance(promised, dict) else {k: draft.values.get(k) for k in PROMISED_DATES}
    for key in PROMISED_DATES:
        value = dates.get(key)
        if not value:
            continue
        try:
            due = datetime.fromisoformat(str(value))
        except ValueError:
            continue
        due = due.replace(tzinfo=UTC, hour=23, minute=59) if due.tzinfo is None else due
        about = f"the date {draft.notice} (draft {draft.id}) promised as {key}"
        deadlines.plan(conn, draft.case_id, f"{key}-{draft.id}", due, about=about, by=approver, now=now)


def reject(
    conn: Connection,
    ctx: DraftingContext,
    draft: NoticeDraftView,
    approver: str,
    reason: str,
    *,
    now: datetime,
) -> Decided:
    refused = may_approve(conn, ctx, draft, approver)
    if refused:
        raise DraftError(refused)
    group = [d for d in drafts.group_of(conn, draft) if d.state == AWAITING]
    for one in group:
        conn.execute(
            _UPDATE,
            {"draft_id": one.id, "state": REJECTED, "reason": reason or "(no reason given)", "decided_at": now,
             "decided_by": approver},
        )  # fmt: skip
        decided = DraftDecided(one.id, one.notice, REJECTED, reason=reason)
        diary.append(conn, one.case_id, decided, at=now, actor=approver)
    return Decided(draft, REJECTED, f"draft {', '.join(str(d.id) for d in group)} rejected")
