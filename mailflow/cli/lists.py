"""The operator's lists, one page at a time: cases, outbox, quarantine, drafts, held mail.

Every list is newest first and takes the same options: ``--limit N`` (default 100), ``--all``,
``--state STATE`` (where rows have one), ``--since WHEN`` (an ISO date or time, UTC when naive, or
``7d``/``24h``/``30m`` ago). When more rows match than are shown, the command says so: a line
under the table, or on standard error with ``--json`` (standard output stays a JSON list).

The queries are SQLAlchemy Core on light table stand-ins (``sqlalchemy.table``): a list command
loads neither the ORM models nor the subsystems that write these rows. Each page costs one query
for the rows (limit + 1, to know whether more exist) and, only then, one count.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailflow.cli.output import console, emit_rows, errors, fail

if TYPE_CHECKING:
    from sqlalchemy import Connection, Select

DEFAULT_LIMIT = 100

LimitOption = Annotated[int, typer.Option("--limit", "-n", min=1, help="show at most this many, newest first")]
AllOption = Annotated[bool, typer.Option("--all", help="show every one, however many")]
SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="only from this time on: ISO date or time (UTC when naive), or 7d, 24h, 30m ago"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]

_AGO = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True, slots=True)
class Paging:
    limit: int | None
    """None: every row."""
    since: datetime | None = None
    state: str | None = None


def paging(limit: int, every: bool, since: str | None, state: str | None = None, states: Sequence[str] = ()) -> Paging:
    """The options as given on the command line, checked (exit 2 naming the bad one)."""
    if state is not None and states and state not in states:
        fail(f"--state {state!r}: one of {', '.join(states)}", 2)
    return Paging(None if every else limit, parse_since(since) if since else None, state)


def parse_since(value: str, now: datetime | None = None) -> datetime:
    ago = _AGO.match(value)
    if ago:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"--since {value!r}: an ISO date or time (2026-12-01, 2026-12-01T09:00) or 7d, 24h, 30m", 2)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[dict[str, Any]]
    total: int
    """How many rows match (the page holds ``len(rows)`` of them)."""

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def fetch(
    conn: Connection,
    query: Select[Any],
    *,
    order: Any,
    at: Any,
    state: Any | None,
    page: Paging,
    shape: Callable[[Connection, Sequence[Any]], list[dict[str, Any]]],
) -> Page:
    """One page of ``query``: filtered by state and time, newest first (``order`` descending)."""
    from sqlalchemy import func, select

    if page.state is not None and state is not None:
        query = query.where(state == page.state)
    if page.since is not None:
        query = query.where(at >= page.since)
    limited = query.order_by(order.desc())
    if page.limit is not None:
        limited = limited.limit(page.limit + 1)
    rows = list(conn.execute(limited))
    total = len(rows)
    if page.limit is not None and len(rows) > page.limit:
        rows = rows[: page.limit]
        total = int(conn.execute(select(func.count()).select_from(query.order_by(None).subquery())).scalar() or 0)
    return Page(shape(conn, rows), total)


def emit_page(page: Page, columns: Sequence[str], *, as_json: bool, title: str, noun: str) -> None:
    emit_rows(page.rows, columns, as_json=as_json, title=title)
    if page.more <= 0:
        return
    line = (
        f"{len(page.rows)} of {page.total} {noun} shown, newest first; "
        f"{page.more} more: --limit {page.total} or --all for every one, --since to narrow"
    )
    (errors if as_json else console).print(line, highlight=False, markup=False)


# -- the tables, as far as the lists read them ------------------------------------------------------


def _tables() -> Any:
    """Light stand-ins for the tables (names and types only): no ORM models are loaded."""
    from types import SimpleNamespace

    from sqlalchemy import JSON, Integer, String, column, table

    from mailflow.columns import UTCDateTime

    def c(name: str, kind: Any = String) -> Any:
        return column(name, kind)

    return SimpleNamespace(
        cases=table("cases", c("id", Integer), c("ref"), c("state"), c("created_at", UTCDateTime),
                    c("subject"), c("related_case_id", Integer)),
        diary=table("diary_entry", c("case_id", Integer)),
        inbound=table("inbound_message", c("id", Integer), c("received_at", UTCDateTime), c("source"),
                      c("size", Integer), c("sha256"), c("state"), c("reason")),
        outbound=table("outbound_message", c("id", Integer), c("case_id", Integer), c("kind"), c("state"),
                       c("attempts", Integer), c("recipients", JSON), c("subject"), c("message_id"),
                       c("created_at", UTCDateTime), c("last_error")),
        drafts=table("notice_draft", c("id", Integer), c("case_id", Integer), c("notice"), c("owner"), c("state"),
                     c("recipients", JSON), c("subject"), c("decided_by"), c("reason"),
                     c("created_at", UTCDateTime)),
        held=table("held_mail", c("id", Integer), c("case_id", Integer), c("author"), c("rules", JSON),
                   c("summaries", JSON), c("recipients", JSON), c("state"), c("created_at", UTCDateTime)),
    )  # fmt: skip


CASE_STATES = ("new", "open", "investigating", "resolution_proposed", "resolved", "closed")
OUTBOX_STATES = ("queued", "sending", "retry", "sent", "failed", "held", "bounced")
DRAFT_STATES = ("draft", "awaiting_approval", "approved", "rejected", "sent", "held")
HELD_STATES = ("held", "released", "superseded")


def cases(conn: Connection, page: Paging) -> Page:
    from sqlalchemy import func, select

    t = _tables()
    c, related = t.cases.c, t.cases.alias("related")
    query = select(c.id, c.ref, c.state, c.created_at, c.subject, related.c.ref.label("related_to")).outerjoin(
        related, related.c.id == c.related_case_id
    )

    def shape(conn: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
        ids = [r.id for r in rows]
        d = t.diary.c
        counts: dict[int, int] = {}
        if ids:
            per_case = select(d.case_id, func.count()).where(d.case_id.in_(ids)).group_by(d.case_id)
            counts = {int(row[0]): int(row[1]) for row in conn.execute(per_case).all()}
        return [
            {
                "ref": r.ref,
                "state": r.state,
                "created_at": r.created_at,
                "entries": counts.get(r.id, 0),
                "related_to": r.related_to,
                "subject": r.subject,
            }
            for r in rows
        ]

    return fetch(conn, query, order=c.id, at=c.created_at, state=c.state, page=page, shape=shape)


def outbox(conn: Connection, page: Paging) -> Page:
    from sqlalchemy import select

    t = _tables()
    o, ref = t.outbound.c, t.cases.c.ref
    query = select(o.id, ref, o.kind, o.state, o.attempts, o.recipients, o.subject, o.message_id, o.created_at,
                   o.last_error).outerjoin(t.cases, t.cases.c.id == o.case_id)  # fmt: skip

    def shape(_: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
        return [
            {
                "id": r.id,
                "case": r.ref,
                "kind": r.kind,
                "state": r.state,
                "attempts": r.attempts,
                "recipients": list(r.recipients or ()),
                "subject": r.subject,
                "message_id": r.message_id,
                "created_at": r.created_at,
                "reason": r.last_error,
            }
            for r in rows
        ]

    return fetch(conn, query, order=o.id, at=o.created_at, state=o.state, page=page, shape=shape)


def quarantine(conn: Connection, page: Paging) -> Page:
    from sqlalchemy import select

    i = _tables().inbound.c
    query = select(i.id, i.received_at, i.source, i.size, i.sha256, i.reason).where(i.state == "quarantined")

    def shape(_: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
        return [
            {"id": r.id, "received_at": r.received_at, "source": r.source, "size": r.size, "sha256": r.sha256,
             "reason": r.reason}
            for r in rows
        ]  # fmt: skip

    return fetch(conn, query, order=i.id, at=i.received_at, state=None, page=page, shape=shape)


def drafts(conn: Connection, page: Paging) -> Page:
    from sqlalchemy import select

    t = _tables()
    d = t.drafts.c
    query = select(d.id, t.cases.c.ref, d.notice, d.owner, d.state, d.recipients, d.subject, d.decided_by,
                   d.reason).join(t.cases, t.cases.c.id == d.case_id)  # fmt: skip

    def shape(_: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
        return [
            {
                "id": r.id,
                "case": r.ref,
                "notice": r.notice,
                "owner": r.owner,
                "state": r.state,
                "recipients": ", ".join(x["address"] for x in r.recipients or ()),
                "subject": r.subject,
                "decided_by": r.decided_by,
                "reason": r.reason,
            }
            for r in rows
        ]

    return fetch(conn, query, order=d.id, at=d.created_at, state=d.state, page=page, shape=shape)


def held(conn: Connection, page: Paging) -> Page:
    from sqlalchemy import select

    t = _tables()
    h = t.held.c
    query = select(h.id, t.cases.c.ref, h.author, h.rules, h.summaries, h.recipients, h.state, h.created_at).join(
        t.cases, t.cases.c.id == h.case_id
    )

    def shape(_: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
        return [
            {
                "id": r.id,
                "case": r.ref,
                "author": r.author,
                "rules": list(r.rules or ()),
                "why": "; ".join(list(r.summaries or ())[:3]),
                "recipients": [str(x["address"]) for x in r.recipients or ()],
                "state": r.state,
                "since": r.created_at,
            }
            for r in rows
        ]

    return fetch(conn, query, order=h.id, at=h.created_at, state=h.state, page=page, shape=shape)


def show(
    ctx: typer.Context,
    lister: Callable[[Connection, Paging], Page],
    page: Paging,
    columns: Sequence[str],
    *,
    as_json: bool,
    title: str,
    noun: str,
) -> None:
    """Run one list command: a read-only transaction, the page, the note when more exist."""
    from mailflow.database import connection

    with connection(ctx.obj.engine, read_only=True) as conn:
        found = lister(conn, page)
    emit_page(found, columns, as_json=as_json, title=title, noun=noun)
