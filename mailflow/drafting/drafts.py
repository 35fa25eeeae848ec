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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import conversations, deadlines, diary, gate, parties, standing
from mailflow.case import service as cases
from mailflow.case.entries import DraftDecided, DraftRequested, Held
from mailflow.config import Settings
from mailflow.drafting import feedback
from mailflow.errors import DraftError
from mailflow.model import ConversationKind, OutboundKind, PartyRole
from mailflow.model import core as t
from mailflow.notices import catalogue
from mailflow.outbound import outbox
from mailflow.outbound.compose import Draft
from mailflow.outbound.render import Renderer, TemplateError
from mailflow.parse.addresses import ConductAddress, new_token
from mailflow.parse.message import Address
from mailflow.parse.subject import with_tag
from mailflow.policy.outgoing import Decision, Recipient

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
class DraftingContext:
    settings: Settings
    renderer: Renderer
    conduct: ConductAddress
    roster: Sequence[RosterMember]

    @property
    def insiders(self) -> frozenset[str]:
        return frozenset({str(self.conduct).lower(), *(a.lower() for m in self.roster for a in m.addresses)})


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


# -- who it goes to ---------------------------------------------------------------------------------

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


# -- drafting ---------------------------------------------------------------------------------------


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


def create(
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
    """Render a notice for each of the case's addressees (each their own mail, in their own
    conversation) and ask the chair(s) to approve them in one request. Returns the first draft."""
    try:
        known = catalogue.notice(notice_name)
    except TemplateError as exc:
        raise DraftError(str(exc)) from None
    refused = process_refuses(conn, ctx, case_id, known.name, now)
    if refused:
        raise DraftError(refused)
    case_id, ref, created_at = conn.execute(_CASE_OPENED, {"case_id": case_id}).one()
    everyone = recipients_for(conn, ctx, case_id, known.name)
    barred = parties.no_contact(conn, case_id)
    recipients = tuple(r for r in everyone if r.address.lower() not in barred)
    if not recipients:
        raise DraftError("every addressee of this notice asked for no further contact (/revoke NAME no-contact ENTRY)")
    context = fill(notice_name, {**defaults(ctx, created_at, now), **values}, message)
    promised = {k: str(context[k]) for k in PROMISED_DATES if k in known.keys and context.get(k)}
    made: list[NoticeDraftView] = []
    for recipient in recipients:
        one = (recipient,)
        conversation = conversation_for(conn, case_id, one, label=f"{known.name}: {recipient.name or 'addressee'}")
        reply_address = cases.address_of(ctx.conduct, ref, conversation)
        subject, text = render(ctx, ref, notice_name, one, reply_address, context)
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
    skipped = [r for r in everyone if r not in recipients]
    _request_approval(conn, ctx, ref, made, skipped, now=now)
    return made[0]


def process_refuses(
    conn: Connection, ctx: DraftingContext, case_id: int, notice_name: str, now: datetime
) -> str | None:
    """Why the manuals' process does not allow this notice yet, or None.

    Jupyter: "Once a resolution is agreed upon, but before it is enacted, the committee will contact
    the original reporter ... and explain the proposed resolution": a feedback request needs an
    adopted resolution. A resolution notice carries out the adopted resolution (and only that one),
    after the feedback and the right of reply (Django: "before we finalise our decision")."""
    audience, _, name = notice_name.partition("/")
    resolution: str | None = conn.execute(_CASE_RESOLUTION, {"case_id": case_id}).scalar_one()
    if name == "feedback-request":
        if resolution is None:
            return (
                "a feedback request explains an adopted resolution: the committee proposes one (/propose TYPE TEXT)"
                " and decides it by vote first"
            )
        return None
    if name.startswith("resolution"):
        if resolution is None:
            return "no resolution is adopted on this case (/propose TYPE TEXT, then the committee's vote)"
        if audience == "reported" and name != f"resolution-{resolution}":
            return f"the adopted resolution is {resolution}: its notice is reported/resolution-{resolution}"
        window = timedelta(days=ctx.settings.notices.feedback_window_days)
        why_not = feedback.state(conn, case_id, window).may_enact(now)
        if why_not:
            return f"not before the resolution may be enacted: {why_not}"
    return None


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
    from mailflow.outbound.compose import compose

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
    from mailflow.drafting.tone import advice_lines

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


# -- deciding ---------------------------------------------------------------------------------------


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
    group = [d for d in group_of(conn, draft) if d.state == AWAITING]
    edited = edited_text.strip() + "\n" if edited_text and edited_text.strip() else None
    if edited is not None and len(group) > 1:
        raise DraftError(
            f"draft {draft.id} goes to {len(group)} addressees, each with their own text: reject it and draft it again"
            " to change it; nothing was sent"
        )
    why_not = process_refuses(conn, ctx, draft.case_id, draft.notice, now)
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
    group = [d for d in group_of(conn, draft) if d.state == AWAITING]
    for one in group:
        conn.execute(
            _UPDATE,
            {"draft_id": one.id, "state": REJECTED, "reason": reason or "(no reason given)", "decided_at": now,
             "decided_by": approver},
        )  # fmt: skip
        decided = DraftDecided(one.id, one.notice, REJECTED, reason=reason)
        diary.append(conn, one.case_id, decided, at=now, actor=approver)
    return Decided(draft, REJECTED, f"draft {', '.join(str(d.id) for d in group)} rejected")
