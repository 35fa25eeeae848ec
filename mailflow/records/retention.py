"""Retention: a closed case is kept as long as necessary, then its personal data is removed.

The Django manual: personal data is "retained only as long as necessary"; records are kept "in
accordance with ... data retention policies and applicable privacy laws". A closed case expires
``[records] retention_conflict_days`` or ``retention_enforcement_days`` (a case whose type was never
set counts as enforcement: the longer) after its last activity: its last message, state change or
resolution, or the end of a ban it imposed. A case does not expire while a ban of it is in force
(Jupyter keeps bans "so that they may be reviewed"), nor while a case linked to it (the same
incident, merged, a retaliation) is not expired too.

What is removed, on every table that holds it: the raw bytes of every message received and sent
(the blobs are emptied; delivered copies in a Maildir transport inside the data directory are
deleted), addresses, names, aliases and subjects, Message-IDs, the words of the diary, notes,
drafts, held mail, proposals and votes, the committee's summary and its free answers, the banned
person's name in the ban register. The case addresses are retired (new tokens), so that a late
reply opens a new case instead of refilling this one.

What is kept, anonymised: the reference, the dates (received, acknowledged, resolved), the state,
type, source and category, impact and likelihood, the resolution, the lead (a committee member),
the links between cases, the kinds of the bans with their scope and dates: what the Master Incident
Log shows as "(removed)" and what the transparency report counts. The diary keeps every entry's
place, time, kind, member and hash, and a ``redaction`` entry records what was removed and seals
what is left (``mailflow.case.diary.redact``): ``mailflow diary verify`` still passes, and an edit
is still caught.

Freed space: on SQLite the database is rebuilt (VACUUM) and its write-ahead log truncated, so that
no removed byte lingers in a free page; on PostgreSQL the touched tables are vacuumed (a removed
row version stays in the files until then; VACUUM FULL, run by the operator, rewrites them).

A backup made before a run still holds what the run removed. Keep backups no longer than the
shortest retention period, or run ``mailflow retention run --apply`` right after restoring one:
expiry is computed from the dates in the database, so the same cases expire again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, select, text

from mailflow.case import diary
from mailflow.clock import as_utc
from mailflow.config import Settings
from mailflow.database import checkpoint, connection, is_sqlite, lock_for_threading
from mailflow.model import CaseState, OutboundState
from mailflow.model import core as t
from mailflow.outbound.transport import MaildirTransport
from mailflow.parse.addresses import new_token
from mailflow.records import assessment, store
from mailflow.records import tables as r
from mailflow.records.facts import CaseFacts, each, load, rows

log = logging.getLogger(__name__)

REMOVED = (
    "raw messages (received and sent)",
    "addresses, names and aliases",
    "subjects and Message-IDs",
    "the diary's words and details",
    "notes, drafts, held mail, proposals and votes",
    "the summary and free answers of the assessment",
    "the banned person's name in the ban register",
)
_TABLES = (
    "blob", "inbound_message", "outbound_message", "diary_entry", "party", "conversation", "cases", "case_record",
    "notice_draft", "held_mail", "alert", "deadline", "proposal", "vote", "ban", "case_message_id",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Verdict:
    ref: str
    case_id: int
    expires_at: datetime | None
    expired: bool
    why: str


@dataclass
class Outcome:
    verdicts: list[Verdict] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    scrubbed_mails: int = 0

    @property
    def expired(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.expired]


def period(settings: Settings, case_type: str | None) -> timedelta:
    records = settings.records
    days = records.retention_conflict_days if case_type == "conflict" else records.retention_enforcement_days
    return timedelta(days=days)


def judge(conn: Connection, settings: Settings, now: datetime, *, due_only: bool = False) -> list[Verdict]:
    """Each closed case not anonymised yet, and whether it has expired at ``now``; with
    ``due_only``, only the cases that may have (the scheduler's run).

    Only those cases are read, and the cases linked to them: never the whole history. A case
    expires a period after its last activity, which is never before its ``updated_at``: one last
    active within the shortest period cannot have expired, and ``due_only`` does not read it."""
    c, rc = t.cases.c, r.case_record.c
    query = (
        select(c.id)
        .outerjoin(r.case_record, rc.case_id == c.id)
        .where(c.state == CaseState.CLOSED, rc.anonymised_at.is_(None))
    )
    if due_only:
        shortest = min(period(settings, "conflict"), period(settings, "enforcement"))
        query = query.where(c.updated_at <= now - shortest)
    candidates = [case_id for (case_id,) in rows(conn, query)]
    if not candidates:
        return []
    facts = load(conn, candidates)
    by_id = {f.id: f for f in facts}
    linked = {link.other_id for f in facts for link in f.links} - by_id.keys()
    by_id.update((f.id, f) for f in load(conn, linked))
    bans = _bans(conn, list(by_id))
    first: dict[int, Verdict] = {}
    for case in facts:
        if case.anonymised_at is not None or case.state is not CaseState.CLOSED:
            continue
        first[case.id] = _verdict(settings, case, bans.get(case.id, []), now)
    out: list[Verdict] = []
    for case_id, verdict in first.items():
        holding = [
            link.other_ref
            for link in by_id[case_id].links
            if by_id[link.other_id].anonymised_at is None
            and not (link.other_id in first and first[link.other_id].expired)
        ]
        if verdict.expired and holding:
            verdict = Verdict(verdict.ref, case_id, verdict.expires_at, False, f"linked to {', '.join(holding)}")
        out.append(verdict)
    return out


def _verdict(settings: Settings, case: CaseFacts, bans: list[_BanDates], now: datetime) -> Verdict:
    if any(lifted is None and (ends is None or ends > now) for ends, lifted in bans):
        return Verdict(case.ref, case.id, None, False, "a ban of this case is in force")
    ends = [lifted or ends for ends, lifted in bans]
    last = max([case.updated_at, *(d for d in (case.resolved_at, *ends) if d is not None)])
    expires = last + period(settings, case.case_type)
    kind = case.case_type or "type not set"
    return Verdict(case.ref, case.id, expires, expires <= now, f"closed ({kind}), last activity {last:%Y-%m-%d}")


_BanDates = tuple[datetime | None, datetime | None]


def _bans(conn: Connection, case_ids: list[int]) -> dict[int, list[_BanDates]]:
    """case id -> (ends_on, lifted_at) of each ban of these cases."""
    b = r.ban.c
    out: dict[int, list[_BanDates]] = {}
    for case_id, ends_on, lifted_at in each(conn, select(b.case_id, b.ends_on, b.lifted_at), b.case_id, case_ids):
        out.setdefault(case_id, []).append((_utc(ends_on), _utc(lifted_at)))
    return out


def run(
    engine: Engine, settings: Settings, members: Sequence[str], now: datetime, *, apply: bool, due_only: bool = False
) -> Outcome:
    """Judge every closed case at ``now`` (with ``due_only``, those that may have expired); with
    ``apply``, anonymise those that expired."""
    outcome = Outcome()
    with connection(engine, read_only=not apply) as conn:
        if apply:
            lock_for_threading(conn)
        outcome.verdicts = judge(conn, settings, now, due_only=due_only)
        if apply:
            outcome.scrubbed_mails = scrub_records_mail(conn, now)
            keep = frozenset({*members, "mailflow"})
            for verdict in outcome.expired:
                anonymise(conn, settings, verdict, keep, now)
                outcome.removed.append(verdict.ref)
    if apply and outcome.removed:
        log.info(
            "retention removed the personal data of %d case(s): %s", len(outcome.removed), ", ".join(outcome.removed)
        )
        compact(engine)
    return outcome


def anonymise(
    conn: Connection, settings: Settings, verdict: Verdict, keep_actors: frozenset[str], now: datetime
) -> None:
    case_id = verdict.case_id
    [case] = load(conn, [case_id])
    d = t.diary.c
    entry_inbound = {i for (i,) in rows(conn, select(d.inbound_id).where(d.case_id == case_id)) if i}
    entry_outbound = {i for (i,) in rows(conn, select(d.outbound_id).where(d.case_id == case_id)) if i}
    i, o = t.inbound.c, t.outbound.c
    inbound = entry_inbound | {x for (x,) in rows(conn, select(i.id).where(i.case_id == case_id))}
    outbound = entry_outbound | {x for (x,) in rows(conn, select(o.id).where(o.case_id == case_id))}
    blobs = {x for (x,) in rows(conn, select(i.blob_id).where(i.id.in_(inbound)))}
    blobs |= {x for (x,) in rows(conn, select(o.blob_id).where(o.id.in_(outbound)))}
    message_ids = [m for (m,) in rows(conn, select(o.message_id).where(o.id.in_(outbound)))]
    _remove_delivered_copies(settings, message_ids)

    conn.execute(t.blob.update().where(t.blob.c.id.in_(blobs)).values(data=b""))
    conn.execute(
        t.inbound.update()
        .where(i.id.in_(inbound))
        .values(mail_from=None, rcpt_to=[], origin={}, message_id=None, reason=None)
    )
    conn.execute(
        t.outbound.update()
        .where(o.id.in_(outbound))
        .values(recipients=[], primary_recipient=None, subject="", last_error=None)
    )
    # Mail of this case still waiting (held, or retrying) never leaves now.
    conn.execute(
        t.outbound.update()
        .where(o.id.in_(outbound), o.state.in_([OutboundState.QUEUED, OutboundState.RETRY, OutboundState.HELD]))
        .values(state=OutboundState.FAILED, last_error="removed by retention")
    )
    conn.execute(t.party.update().where(t.party.c.case_id == case_id).values(name=None, address=None, aliases=[]))
    for (conv_id,) in rows(conn, select(t.conversation.c.id).where(t.conversation.c.case_id == case_id)):
        conn.execute(
            t.conversation.update()
            .where(t.conversation.c.id == conv_id)
            .values(recipients=[], label="", token=new_token())
        )
    conn.execute(t.case_message_id.delete().where(t.case_message_id.c.case_id == case_id))
    conn.execute(t.cases.update().where(t.cases.c.id == case_id).values(subject=""))
    n = t.notice_draft.c
    conn.execute(
        t.notice_draft.update()
        .where(n.case_id == case_id)
        .values(recipients=[], subject="", text="", detail={}, reason=None)
    )
    h = t.held_mail.c
    conn.execute(t.held_mail.update().where(h.case_id == case_id).values(recipients=[], summaries=[], reason=None))
    a = t.alert.c
    about_case = (a.case_id == case_id) | a.inbound_id.in_(inbound) | a.outbound_id.in_(outbound)
    conn.execute(t.alert.update().where(about_case).values(summary="(removed by retention)"))
    conn.execute(t.deadline.update().where(t.deadline.c.case_id == case_id).values(about=""))
    proposals = [x for (x,) in rows(conn, select(t.proposal.c.id).where(t.proposal.c.case_id == case_id))]
    conn.execute(t.proposal.update().where(t.proposal.c.case_id == case_id).values(text=""))
    conn.execute(t.vote.update().where(t.vote.c.proposal_id.in_(proposals)).values(why=""))
    conn.execute(r.ban.update().where(r.ban.c.case_id == case_id).values(person=None, address=None, lift_reason=None))
    kept_answers = {k: v for k, v in case.answers.items() if k in assessment.BY_KEY and not assessment.BY_KEY[k].free}
    store.update(conn, case_id, now, summary="", answers=kept_answers, resolved_on=case.resolved_at, anonymised_at=now)
    days = period(settings, case.case_type).days
    reason = f"retention: {verdict.why}; kept {days} days after it"
    diary.redact(conn, case_id, keep_actors=keep_actors, reason=reason, removed=REMOVED, at=now)


def _remove_delivered_copies(settings: Settings, message_ids: list[str]) -> None:
    """Delivered copies in a Maildir transport inside the data directory are stored data too."""
    transport = settings.outgoing.transport
    if not transport.startswith("maildir:") or not message_ids:
        return
    path = Path(transport.removeprefix("maildir:")).resolve()
    if not path.is_relative_to(settings.service.data_dir.resolve()):
        return  # delivered elsewhere: the recipients' mailboxes are theirs
    maildir = MaildirTransport(path)
    names = [maildir.filename(m) for m in message_ids]
    for sub in ("new", "cur"):
        for name in names:
            for found in (path / sub).glob(name + "*"):
                found.unlink(missing_ok=True)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def scrub_records_mail(conn: Connection, now: datetime) -> int:
    """Empty the copies of the records mailed to members once they have left (the log, patterns):
    they carry several cases at once, and each case's retention must find nothing of it there."""
    m, o = r.records_mail.c, t.outbound.c
    done = [OutboundState.SENT, OutboundState.FAILED, OutboundState.BOUNCED]
    found = rows(
        conn,
        select(m.id, o.blob_id)
        .join(t.outbound, o.id == m.outbound_id)
        .where(m.scrubbed_at.is_(None), o.state.in_(done)),
    )
    if not found:
        return 0
    conn.execute(t.blob.update().where(t.blob.c.id.in_([b for _, b in found])).values(data=b""))
    conn.execute(r.records_mail.update().where(m.id.in_([i for i, _ in found])).values(scrubbed_at=now))
    return len(found)


def compact(engine: Engine) -> None:
    """Leave no removed byte in a free page or a log: SQLite is rebuilt and its WAL truncated, the
    PostgreSQL tables vacuumed."""
    if is_sqlite(engine):
        with engine.connect() as conn:
            conn.connection.driver_connection.execute("VACUUM")  # type: ignore[union-attr]
        checkpoint(engine)
        return
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in _TABLES:
                conn.execute(text(f"VACUUM {table}"))
    except Exception as exc:  # best effort: autovacuum gets there too
        log.warning("VACUUM after retention failed: %s", exc.__class__.__name__)
