"""Feedback on a proposed resolution, and the reported person's right of reply, before enactment.

Jupyter's manual: the reporter is given "the opportunity to provide feedback on the proposed
resolution" before it is enacted; the Django manual gives the reported person "the opportunity to
respond" before a resolution is finalised. A resolution can be marked enacted (``/enact``) only
once every addressee of the sent feedback request answered or its window closed, and only after a
right-of-reply notice went to the reported person, unless a chair recorded why not
(``/no-right-of-reply REASON``, e.g. physical safety).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.model import core as t

_d = t.notice_draft.c
_REQUESTS: Select[int, list[dict[str, str]], datetime] = (
    select(_d.id, _d.recipients, t.outbound.c.created_at)
    .join(t.outbound, t.outbound.c.id == _d.outbound_id)
    .where(_d.case_id == bindparam("case_id"), _d.state == "sent", _d.notice.like("%/feedback-request"))
)
_RIGHT_OF_REPLY = select(_d.id).where(
    _d.case_id == bindparam("case_id"), _d.state == "sent", _d.notice == "reported/right-of-reply"
)
_e = t.diary.c
_ANSWERS: Select[int, str | None, datetime, str | None] = select(_e.seq, _e.from_addr, _e.at, _e.new_text).where(
    _e.case_id == bindparam("case_id"), _e.inbound_id.is_not(None), _e.at >= bindparam("since")
)
_CASE_RESOLUTION: Select[str | None] = select(t.cases.c.resolution).where(t.cases.c.id == bindparam("case_id"))
_WAIVED = select(t.cases.c.right_of_reply_waived_seq).where(t.cases.c.id == bindparam("case_id"))


@dataclass(frozen=True, slots=True)
class FeedbackState:
    requested: bool
    window_closes: datetime | None
    addressees: tuple[str, ...]
    answered: dict[str, int]
    """Addressee -> the diary entry holding their first answer."""
    right_of_reply: bool
    right_of_reply_waived: bool

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(a for a in self.addressees if a not in self.answered)

    def may_enact(self, now: datetime) -> str | None:
        """Why the resolution cannot be enacted yet, or None."""
        if not self.requested:
            return "no feedback request on the proposed resolution was sent (/draft reporter/feedback-request)"
        if self.missing and self.window_closes is not None and now < self.window_closes:
            return (
                f"{len(self.missing)} addressee(s) of the feedback request have not answered and the window is open"
                f" until {self.window_closes:%Y-%m-%d %H:%M} UTC"
            )
        if not self.right_of_reply and not self.right_of_reply_waived:
            return (
                "the reported person was not offered a right of reply (/draft reported/right-of-reply), and no chair"
                " recorded why not (/no-right-of-reply REASON)"
            )
        return None


def state(conn: Connection, case_id: int, window: timedelta) -> FeedbackState:
    requests = conn.execute(_REQUESTS, {"case_id": case_id}).all()
    addressees: dict[str, None] = {}
    since: datetime | None = None
    for _id, recipients, sent_at in requests:
        for r in recipients:
            addressees.setdefault(r["address"].lower(), None)
        since = sent_at if since is None or sent_at < since else since
    answered: dict[str, int] = {}
    if since is not None:
        for seq, from_addr, _at, _text in conn.execute(_ANSWERS, {"case_id": case_id, "since": since}):
            key = (from_addr or "").lower()
            if key in addressees:
                answered.setdefault(key, seq)
    right = conn.execute(_RIGHT_OF_REPLY, {"case_id": case_id}).first() is not None
    waived = conn.execute(_WAIVED, {"case_id": case_id}).scalar() is not None
    return FeedbackState(
        requested=bool(requests),
        window_closes=since + window if since is not None else None,
        addressees=tuple(addressees),
        answered=answered,
        right_of_reply=right,
        right_of_reply_waived=waived,
    )


def refuses(conn: Connection, case_id: int, notice_name: str, window: timedelta, now: datetime) -> str | None:
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
        why_not = state(conn, case_id, window).may_enact(now)
        if why_not:
            return f"not before the resolution may be enacted: {why_not}"
    return None
