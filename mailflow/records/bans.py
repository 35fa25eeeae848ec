"""The ban register: every ban, suspension, hiatus or cooling-off period, with its scope and dates.

Jupyter: "A permanent or temporary ban from some or all Jupyter spaces ... The group will maintain
records of all such bans so that they may be reviewed in the future or otherwise maintained", and a
"mutually agreed upon hiatus" or a "mandatory cooling off period". A member records one by mail::

    /ban suspension Eric Example
    scope: the mailing lists and the chat
    ends: 2027-03-01            (a date, "for: 90 days", or "permanent")
    review: 2027-02-15

(or on one line: ``/ban hiatus Eric; scope: all spaces; for: 30 days``). The person must be a party
of the case. The lead (else the chairs) is reminded ``[records] ban_reminder_days`` before the end
and before the review date: each reminder is a deadline of the case (``ban-end-ID``,
``ban-review-ID``) and fires once. ``/lift ID REASON`` ends one early. A permanent ban is reviewed
after a year unless a review date is given.

``mailflow bans export`` writes what moderators need, as the Django guidelines describe: facts, in
writing, the decision theirs; the person, the measure, its scope and dates, how many reports and of
what type, and never who reported.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from mailflow.case import deadlines, parties
from mailflow.clock import as_utc
from mailflow.model import core as t
from mailflow.records import tables as r
from mailflow.records.facts import CaseFacts, grouped_identifiers, load, rows

KINDS = ("ban", "suspension", "hiatus", "cooling-off")
_DURATION = re.compile(r"^(\d+)\s*(day|week|month|year)s?$")
_DAYS = {"day": 1, "week": 7, "month": 30, "year": 365}
DEFAULT_REVIEW = timedelta(days=365)


class BanError(Exception):
    pass


@dataclass(frozen=True, slots=True)
class BanView:
    id: int
    case_id: int
    case: str
    person: str
    address: str | None
    kind: str
    scope: str
    starts_on: datetime
    ends_on: datetime | None
    review_on: datetime | None
    state: str
    created_by: str
    lifted_by: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _date(value: str, now: datetime) -> datetime:
    try:
        day = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BanError(f"{value.strip()!r} is not a date (YYYY-MM-DD)") from None
    return day if day.tzinfo else day.replace(tzinfo=UTC)


def _duration(value: str) -> timedelta:
    match = _DURATION.match(value.strip().lower())
    if not match:
        raise BanError(f"{value.strip()!r} is not a duration (e.g. 30 days, 6 weeks, 3 months)")
    return timedelta(days=int(match[1]) * _DAYS[match[2]])


def parse(args: str, body: str) -> tuple[str, str, dict[str, str]]:
    """``KIND PERSON [; key: value ...]`` and ``key: value`` lines of the body -> (kind, person, values)."""
    head, *pairs = args.split(";")
    kind, _, person = head.strip().partition(" ")
    kind = kind.lower()
    if kind not in KINDS:
        raise BanError(f"say which measure: /ban {'|'.join(KINDS)} PERSON (then scope:, ends: or for:, review:)")
    values: dict[str, str] = {}
    lines = [*pairs, *body.replace("\r\n", "\n").split("\n")]
    for line in lines:
        key, colon, value = line.partition(":")
        key = key.strip().lower()
        if not colon:
            if line.strip():
                break  # the free text after the values
            continue
        if key not in ("scope", "starts", "ends", "until", "for", "review"):
            break
        values["ends" if key == "until" else key] = value.strip()
    if not person.strip():
        raise BanError("say who: /ban KIND NAME (a party of this case)")
    return kind, person.strip(), values


def record(conn: Connection, case_id: int, args: str, body: str, *, by: str, now: datetime, remind_days: float) -> str:
    kind, who, values = parse(args, body)
    found = parties.find(conn, case_id, who)
    if not found:
        raise BanError(f"no party of this case is called {who!r} (add them with /party reported NAME <ADDRESS>)")
    if len(found) > 1:
        raise BanError(f"{who!r} names {len(found)} parties; use the address")
    party = found[0]
    starts = _date(values["starts"], now) if values.get("starts") else now
    ends: datetime | None = None
    if values.get("for"):
        ends = starts + _duration(values["for"])
    elif values.get("ends") and values["ends"].lower() not in ("permanent", "never"):
        ends = _date(values["ends"], now)
    elif kind != "ban" and not values.get("ends"):
        raise BanError(f"a {kind} ends: give 'ends: YYYY-MM-DD' or 'for: 30 days'")
    if ends is not None and ends <= starts:
        raise BanError("it must end after it starts")
    review = _date(values["review"], now) if values.get("review") else (starts + DEFAULT_REVIEW if not ends else None)
    scope = values.get("scope") or "all spaces"
    ban_id: int = conn.execute(
        r.ban.insert().returning(r.ban.c.id),
        {
            "case_id": case_id, "party_id": party.id, "person": party.name, "address": party.address, "kind": kind,
            "scope": scope[:500], "starts_on": starts, "ends_on": ends, "review_on": review, "created_at": now,
            "created_by": by,
        },
    ).scalar_one()  # fmt: skip
    ahead = timedelta(days=remind_days)
    if ends is not None:
        deadlines.plan(
            conn, case_id, f"ban-end-{ban_id}", ends - ahead, about=f"the end of ban {ban_id}", by=by, now=now
        )
    if review is not None:
        about = f"the review of ban {ban_id}"
        deadlines.plan(conn, case_id, f"ban-review-{ban_id}", review - ahead, about=about, by=by, now=now)
    until = f"until {ends:%Y-%m-%d}" if ends else "permanent"
    reviewed = f", review {review:%Y-%m-%d}" if review else ""
    return f"ban register: {kind} {ban_id} of {party.shown} ({scope}), from {starts:%Y-%m-%d} {until}{reviewed}"


def lift(conn: Connection, case_id: int, args: str, *, by: str, now: datetime) -> str:
    number, _, reason = args.strip().partition(" ")
    if not number.lstrip("#").isdigit() or not reason.strip():
        raise BanError("say which and why: /lift BAN-NUMBER REASON")
    b = r.ban.c
    ban_id = int(number.lstrip("#"))
    row = conn.execute(select(b.case_id, b.lifted_at).where(b.id == ban_id)).first()
    if row is None or row[0] != case_id:
        raise BanError(f"this case has no ban {ban_id}")
    if row[1] is not None:
        raise BanError(f"ban {ban_id} was lifted already")
    conn.execute(
        r.ban.update().where(b.id == ban_id).values(lifted_at=now, lifted_by=by, lift_reason=reason.strip()[:500])
    )
    deadlines.done(conn, case_id, f"ban-end-{ban_id}", f"ban-review-{ban_id}", now=now)
    return f"ban {ban_id} is lifted"


def state_of(starts: datetime, ends: datetime | None, lifted: datetime | None, now: datetime) -> str:
    if lifted is not None:
        return "lifted"
    if starts > now:
        return "upcoming"
    return "ended" if ends is not None and ends <= now else "in force"


def listing(conn: Connection, now: datetime, *, case_id: int | None = None) -> list[BanView]:
    b = r.ban.c
    query = (
        select(
            b.id, b.case_id, t.cases.c.ref, b.person, b.address, b.kind, b.scope, b.starts_on, b.ends_on, b.review_on,
            b.lifted_at, b.created_by, b.lifted_by,
        )
        .join(t.cases, t.cases.c.id == b.case_id)
        .order_by(b.starts_on, b.id)
    )  # fmt: skip
    if case_id is not None:
        query = query.where(b.case_id == case_id)
    out = []
    for row in rows(conn, query):
        starts, ends, review, lifted = (as_utc(row[7]), _utc(row[8]), _utc(row[9]), _utc(row[10]))
        person = row[3] or row[4] or "(removed)"
        out.append(
            BanView(
                row[0],
                row[1],
                row[2],
                person,
                row[4],
                row[5],
                row[6],
                starts,
                ends,
                review,
                state_of(starts, ends, lifted, now),
                row[11],
                row[12],
            )
        )
    return out


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def as_text(bans: Sequence[BanView]) -> str:
    if not bans:
        return "No ban on this case."
    return "\n".join(
        f"ban {b.id}: {b.kind} of {b.person} ({b.scope}), {b.starts_on:%Y-%m-%d} to "
        f"{f'{b.ends_on:%Y-%m-%d}' if b.ends_on else 'permanent'}, {b.state}"
        for b in bans
    )


def export(conn: Connection, now: datetime, *, committee: str, include_ended: bool = False) -> str:
    """The register for moderators (Markdown): facts in writing, the decision theirs, no reporter."""
    bans = [b for b in listing(conn, now) if include_ended or b.state in ("in force", "upcoming")]
    facts = load(conn)
    idents = grouped_identifiers(facts, "reported")
    by_id = {f.id: f for f in facts}
    lines = [
        f"# Bans and suspensions ({now:%Y-%m-%d})",
        "",
        f"From the {committee}. This is information, given in writing, about measures the committee took"
        " under the Code of Conduct. What you do with it in the spaces you moderate is your decision."
        " Please keep it confidential and share it only with the people who need it to apply it.",
        "",
    ]
    if not bans:
        lines.append("No ban or suspension is in force.")
    for ban in bans:
        about = _reports_about(ban, by_id, idents)
        until = f"until {ban.ends_on:%Y-%m-%d}" if ban.ends_on else "permanent"
        who = f"{ban.person} <{ban.address}>" if ban.address and ban.address != ban.person else ban.person
        lines += [
            f"## {who}",
            "",
            f"- measure: {ban.kind} (register number {ban.id}), {ban.state}",
            f"- where: {ban.scope}",
            f"- from {ban.starts_on:%Y-%m-%d}, {until}"
            + (f"; to be reviewed on {ban.review_on:%Y-%m-%d}" if ban.review_on else ""),
        ]
        if about:
            lines.append(f"- {about}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def _reports_about(ban: BanView, by_id: dict[int, CaseFacts], idents: dict[str, set[int]]) -> str:
    case = by_id.get(ban.case_id)
    if case is None:
        return ""
    keys = {" ".join(v.split()).casefold() for v in (ban.person, ban.address) if v}
    ids = {ban.case_id} | {i for k in keys for i in idents.get(k, ())}
    reports = [by_id[i] for i in ids if by_id[i].merged_into is None]
    months = sorted({f"{c.created_at:%Y-%m}" for c in reports})
    kinds = Counter(c.category for c in reports if c.category)
    what = f", relating to: {', '.join(sorted(kinds))}" if kinds else ""
    return f"the subject of {len(reports)} code of conduct report(s) (received {', '.join(months)}){what}"
