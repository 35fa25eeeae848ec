"""What a long history costs: intake and the deadline check over 1,000, 100,000 and 1,000,000 cases.

A committee's store only grows (retention empties closed cases' words, not their rows), so no
step that runs per message or per minute may read the whole history. This measures that, on
SQLite and on PostgreSQL:

* **ingest**: a history of N cases is written straight into the tables (each case: its two
  conversations, the reporter, the report as received with its Message-ID, the acknowledgement as
  sent, the diary's two entries, the lead, its record with the questionnaire sent, a met deadline;
  the newest 50 open, the rest closed; ending yesterday and spanning at most 700 days), then
  ``--messages`` mails go through the real path (spool, parse, thread, record, route, drafts in the
  outbox) in groups of 16, as the listener hands them on, after the store has settled (see
  ``settle``) and 48 mails of warm-up: 60 % new reports from new senders, 40 %
  answers of history's reporters (half to their conversation's address, half citing the report's
  Message-ID). Prints messages per second, the ratio to the smallest history, and whether every
  answer was threaded into its own case;
* **tick**: the deadline check ``mailflow serve`` runs every minute (``mailflow tick``): the first
  one (retention runs: ``records_run`` is empty), then idle ones (nothing due; the median of 15),
  then a busy one (the deadlines of the warm-up's 48 fresh reports due: acknowledgement checks,
  personal replies, status updates). With ``--statements``, the SQL
  statements each sends.

    PYTHONPATH=. .venv/bin/python benchmarks/history_cost.py [--databases sqlite postgres]
        [--sizes 1000 100000 1000000] [--tick-cases 100 100000] [--messages 600] [--statements]

The history's rows are synthetic (written in bulk, one shared blob for their bytes); the mails
ingested are parsed and threaded like any other. Not a test: timings belong here.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event, func, insert, select, text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailflow.committee import deadlines  # noqa: E402
from mailflow.config import Settings, settings_from_mapping  # noqa: E402
from mailflow.database import checkpoint, make_engine, migrate  # noqa: E402
from mailflow.inbound.spool import Envelope, Spool  # noqa: E402
from mailflow.model import (  # noqa: E402
    CaseState,
    ConversationKind,
    DiaryKind,
    InboundSource,
    InboundState,
    MessageKind,
    OutboundKind,
    OutboundState,
    PartyRole,
)
from mailflow.model import core as t  # noqa: E402
from mailflow.outbound.render import Renderer  # noqa: E402
from mailflow.parse.addresses import ConductAddress, new_token  # noqa: E402
from mailflow.pipeline import RECORD_CHUNK, process_batch  # noqa: E402
from mailflow.records import tables as r  # noqa: E402
from mailflow.services import Services  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CONDUCT = "conduct@example.org"
ROSTER = [
    {"name": "Ada Chair", "addresses": ["ada@committee.example"], "role": "chair"},
    {"name": "Bo Member", "addresses": ["bo@committee.example"], "role": "member"},
    {"name": "Cy Member", "addresses": ["cy@committee.example"], "role": "member"},
]
SLICE = 20_000
OPEN_CASES = 50
WARM_UP = 48
"""Mails ingested, and not counted, before the measured ones."""
"""The newest cases of the history are open, the rest closed: a committee works on some tens of
cases at once, however many it has closed."""
SPAN = timedelta(days=700)
"""The history ends today and spans at most this (a case every 7 minutes, or closer): its closed
cases are all within the shortest retention period, so retention has nothing to remove."""


@dataclass(frozen=True)
class HistoryCase:
    case_id: int
    reporter: str
    token: str
    ref: str
    report_id: str


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{tmp / 'mailflow.sqlite3'}"
        return
    import psycopg

    admin = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    name = f"mailflow_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings(tmp: Path, url: str) -> Settings:
    return settings_from_mapping(
        {
            "service": {"data_dir": str(tmp / "data"), "conduct_address": CONDUCT, "committee_name": "Bench"},
            "database": {"url": url},
            "queue": {"broker_url": "stub://"},
            "outgoing": {"transport": f"maildir:{tmp / 'outgoing'}"},
            "committee": {"members": ROSTER},
        }
    )


def fill(engine: Engine, size: int) -> list[HistoryCase]:
    """Write ``size`` past cases in bulk; returns what the answers need to find them again."""
    with engine.begin() as conn:
        blob = conn.execute(insert(t.blob).returning(t.blob.c.id), {"data": b"(history)"}).scalar_one()
    out: list[HistoryCase] = []
    per_year: dict[int, int] = {}
    step = min(timedelta(minutes=7), SPAN / size)
    first = datetime.now(UTC) - timedelta(days=1) - step * size
    for start in range(0, size, SLICE):
        n = range(start, min(size, start + SLICE))
        opened = [first + step * i for i in n]
        years = [d.year for d in opened]
        numbers = []
        for year in years:
            per_year[year] = per_year.get(year, 0) + 1
            numbers.append(per_year[year])
        with engine.begin() as conn:
            case_rows = [
                {
                    "ref": f"{y}-{num:04d}", "year": y, "number": num,
                    "state": CaseState.OPEN if i >= size - OPEN_CASES else CaseState.CLOSED,
                    "created_at": at, "updated_at": at, "subject": f"Report {i}",
                    "acknowledged_at": at, "imported": False,
                }
                for i, at, y, num in zip(n, opened, years, numbers, strict=True)
            ]  # fmt: skip
            case_ids = _ids(conn, t.cases, case_rows)
            tokens = [(new_token(), new_token()) for _ in n]
            conv_rows = []
            for case_id, (team, reporter) in zip(case_ids, tokens, strict=True):
                conv_rows.append(
                    {"case_id": case_id, "kind": ConversationKind.TEAM, "number": 0, "token": team,
                     "label": "team", "recipients": []}
                )  # fmt: skip
                conv_rows.append(
                    {"case_id": case_id, "kind": ConversationKind.OUTSIDE, "number": 1, "token": reporter,
                     "label": "reporter", "recipients": [{"name": "", "address": f"past{case_id}@example.net"}]}
                )  # fmt: skip
            conv_ids = _ids(conn, t.conversation, conv_rows)
            reporters = conv_ids[1::2]
            conn.execute(
                insert(t.party),
                [
                    {"case_id": c, "role": PartyRole.REPORTER, "name": None, "address": f"past{c}@example.net",
                     "aliases": [], "added_at": at}
                    for c, at in zip(case_ids, opened, strict=True)
                ],
            )  # fmt: skip
            inbound_ids = _ids(
                conn,
                t.inbound,
                [
                    {"received_at": at, "source": InboundSource.SMTP, "mail_from": f"past{c}@example.net",
                     "rcpt_to": [CONDUCT], "sha256": hashlib.sha256(b"past%d" % c).hexdigest(), "size": 1000,
                     "blob_id": blob, "origin": {}, "state": InboundState.PROCESSED, "kind": MessageKind.PERSONAL,
                     "message_id": f"report{c}@example.net", "case_id": c, "processed_at": at, "notify": True}
                    for c, at in zip(case_ids, opened, strict=True)
                ],
            )  # fmt: skip
            outbound_ids = _ids(
                conn,
                t.outbound,
                [
                    {"case_id": c, "conversation_id": conv, "kind": OutboundKind.ACKNOWLEDGEMENT,
                     "state": OutboundState.SENT, "created_at": at, "attempts": 1, "next_attempt_at": at,
                     "sent_at": at, "message_id": f"ack{c}@example.org",
                     "mail_from": f"conduct+bounce.b{c}@example.org", "recipients": [f"past{c}@example.net"],
                     "primary_recipient": f"past{c}@example.net", "subject": "Re: report", "blob_id": blob,
                     "bounce_token": f"b{c}"}
                    for c, conv, at in zip(case_ids, reporters, opened, strict=True)
                ],
            )  # fmt: skip
            conn.execute(
                insert(t.case_message_id),
                [
                    row
                    for c, conv in zip(case_ids, reporters, strict=True)
                    for row in (
                        {"case_id": c, "message_id": f"report{c}@example.net", "outgoing": False,
                         "conversation_id": conv},
                        {"case_id": c, "message_id": f"ack{c}@example.org", "outgoing": True,
                         "conversation_id": conv},
                    )
                ],
            )  # fmt: skip
            conn.execute(
                insert(t.diary),
                [
                    row
                    for c, inb, outb, at in zip(case_ids, inbound_ids, outbound_ids, opened, strict=True)
                    for row in (
                        {"case_id": c, "seq": 1, "at": at, "kind": DiaryKind.REPORT, "actor": "reporter",
                         "to_addrs": [], "detail": {}, "inbound_id": inb, "outbound_id": None, "prev_hash": "0" * 64,
                         "hash": hashlib.sha256(b"1-%d" % c).hexdigest()},
                        {"case_id": c, "seq": 2, "at": at, "kind": DiaryKind.SENT, "actor": "mailflow",
                         "to_addrs": [], "detail": {}, "inbound_id": None, "outbound_id": outb,
                         "prev_hash": hashlib.sha256(b"1-%d" % c).hexdigest(),
                         "hash": hashlib.sha256(b"2-%d" % c).hexdigest()},
                    )
                ],
            )  # fmt: skip
            conn.execute(
                insert(t.case_member),
                [{"case_id": c, "member": ROSTER[c % 3]["name"], "assignment": "lead", "excluded": False,
                  "since": at} for c, at in zip(case_ids, opened, strict=True)],
            )  # fmt: skip
            conn.execute(
                insert(r.case_record),
                [{"case_id": c, "summary": "", "answers": {}, "questionnaire_at": at, "updated_at": at}
                 for c, at in zip(case_ids, opened, strict=True)],
            )  # fmt: skip
            conn.execute(
                insert(t.deadline),
                [{"case_id": c, "name": "status-update-1", "due_at": at + timedelta(days=7), "created_at": at,
                  "created_by": "mailflow", "about": "", "done_at": at + timedelta(days=3)}
                 for c, at in zip(case_ids, opened, strict=True)],
            )  # fmt: skip
        for c, (_team, token), case_row in zip(case_ids, tokens, case_rows, strict=True):
            out.append(HistoryCase(c, f"past{c}@example.net", token, case_row["ref"], f"report{c}@example.net"))
    return out


def settle(engine: Engine) -> None:
    """Leave the freshly written history as a running service has it: SQLite's write-ahead log
    checkpointed, PostgreSQL's tables vacuumed and analysed, the written pages on disk. Measured
    right after the bulk write, the first mails paid for its checkpoint and write-back (the 1M rate
    fell to 0.85 of the 1k rate; alternating runs over the same two stores gave 0.96-1.02)."""
    if engine.dialect.name == "sqlite":
        checkpoint(engine)
    else:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    os.sync()


def _ids(conn: Any, table: Any, rows: list[dict[str, Any]]) -> list[int]:
    return list(conn.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars())


def report(i: int, now: datetime) -> bytes:
    return (
        f"From: New Reporter {i} <new{i}@example.net>\r\nTo: {CONDUCT}\r\nSubject: Incident at the meetup {i}\r\n"
        f"Date: {format_datetime(now)}\r\nMessage-ID: <new{i}.{uuid.uuid4().hex}@example.net>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, I want to report what happened at the meetup on day {i}. Someone kept interrupting\r\n"
        "and made remarks about my accent after I asked them to stop.\r\n"
    ).encode()


def answer(case: HistoryCase, i: int, now: datetime, conduct: ConductAddress) -> bytes:
    if i % 2:
        to, cites = conduct.case_address(case.ref, case.token), ""
    else:
        to, cites = CONDUCT, f"In-Reply-To: <{case.report_id}>\r\nReferences: <{case.report_id}>\r\n"
    return (
        f"From: <{case.reporter}>\r\nTo: {to}\r\nSubject: Re: my report\r\nDate: {format_datetime(now)}\r\n"
        f"Message-ID: <answer{i}.{uuid.uuid4().hex}@example.net>\r\n{cites}"
        "Content-Type: text/plain; charset=utf-8\r\n\r\nThank you. One more thing I remembered.\r\n"
    ).encode()


def ingest(svc: Services, history: list[HistoryCase], count: int) -> tuple[float, list[float], int, int]:
    """(messages per second, per-group rates, answers threaded right, answers)."""
    rng = random.Random(11)
    now = datetime.now(UTC)
    conduct = svc.conduct
    mails: list[tuple[bytes, str, int | None]] = []
    for i in range(count):
        if i % 5 in (1, 3):
            case = history[rng.randrange(len(history))]
            mails.append((answer(case, i, now, conduct), case.reporter, case.case_id))
        else:
            mails.append((report(i, now), f"new{i}@example.net", None))
    spool = Spool(svc.engine)
    rates: list[float] = []
    expected: dict[int, int] = {}
    began = time.perf_counter()
    for start in range(0, len(mails), RECORD_CHUNK):
        group = mails[start : start + RECORD_CHUNK]
        t0 = time.perf_counter()
        accepted = spool.accept_many(
            [
                (raw, Envelope(source=InboundSource.SMTP, mail_from=sender, rcpt_to=(CONDUCT,)))
                for raw, sender, _ in group
            ]
        )
        ids = [a.inbound_id for a in accepted]
        process_batch(svc, ids)
        rates.append(len(group) / (time.perf_counter() - t0))
        expected.update({a.inbound_id: c for a, (_, _, c) in zip(accepted, group, strict=True) if c is not None})
    elapsed = time.perf_counter() - began
    with svc.engine.connect() as conn:
        query = select(t.inbound.c.id, t.inbound.c.case_id).where(t.inbound.c.id.in_(list(expected)))
        found: dict[int, int | None] = {i: c for i, c in conn.execute(query)}
    right = sum(1 for i, c in expected.items() if found.get(i) == c)
    return len(mails) / elapsed, rates, right, len(expected)


class Statements:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._one)

    def _one(self, *args: Any) -> None:
        self.count += 1


def ticks(svc: Services, counter: Statements) -> dict[str, tuple[float, int]]:
    """(milliseconds, statements) of the first, an idle and a busy deadline check; "fired": the
    deadlines the busy one fired."""
    now = datetime.now(UTC)
    ctx = svc.drafting
    out: dict[str, tuple[float, int]] = {}

    fired = 0

    def one(at: datetime) -> tuple[float, int]:
        nonlocal fired
        before = counter.count
        t0 = time.perf_counter()
        fired = len(deadlines.tick(svc.engine, ctx, at))
        return (time.perf_counter() - t0) * 1000, counter.count - before

    out["first"] = one(now)
    idle = [one(now + timedelta(seconds=k)) for k in range(15)]
    out["idle"] = (statistics.median(ms for ms, _ in idle), idle[-1][1])
    later = now + timedelta(days=svc.settings.notices.status_update_days, hours=1)
    out["busy"] = one(later)
    out["fired"] = (0.0, fired)
    return out


def run_one(kind: str, size: int, messages: int, tick_too: bool) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="mailflow-history-"))
    try:
        with database(kind, tmp) as url:
            engine = make_engine(url)
            migrate(engine)
            cfg = settings(tmp, url)
            svc = Services(engine=engine, settings=cfg, renderer=Renderer(cfg.templates_dir))
            t0 = time.perf_counter()
            history = fill(engine, size)
            filled = time.perf_counter() - t0
            settle(engine)
            ingest(svc, history, WARM_UP)
            result: dict[str, Any] = {"database": kind, "cases": size, "fill_s": filled}
            if messages:
                rate, rates, right, answers = ingest(svc, history, messages)
                result.update(rate=rate, median_group=statistics.median(rates), right=right, answers=answers)
            if tick_too:  # the warm-up's fresh reports: their deadlines are what the busy check finds due
                counter = Statements(engine)
                result["tick"] = ticks(svc, counter)
            with engine.connect() as conn:
                result["total_cases"] = conn.execute(select(func.count()).select_from(t.cases)).scalar_one()
            engine.dispose()
            return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"], choices=["sqlite", "postgres"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[1000, 100_000, 1_000_000])
    parser.add_argument("--tick-cases", nargs="+", type=int, default=[100, 100_000])
    parser.add_argument("--messages", type=int, default=600)
    parser.add_argument("--statements", action="store_true", help="print the SQL statements of each check")
    args = parser.parse_args()
    for kind in args.databases:
        base: float | None = None
        for size in args.sizes:
            r = run_one(kind, size, args.messages, tick_too=False)
            base = base or r["rate"]
            print(
                f"ingest  {kind:8} {size:>9,} cases (filled in {r['fill_s']:6.1f} s): {r['rate']:6.1f} msg/s"
                f" ({r['rate'] / base:4.2f} of the smallest; median per group {r['median_group']:6.1f}),"
                f" answers threaded right {r['right']}/{r['answers']}",
                flush=True,
            )
        for size in args.tick_cases:
            r = run_one(kind, size, 0, tick_too=True)
            parts = []
            for name in ("first", "idle", "busy"):
                ms, statements = r["tick"][name]
                parts.append(f"{name} {ms:7.1f} ms" + (f" ({statements} statements)" if args.statements else ""))
            fired = r["tick"]["fired"][1]
            print(f"tick    {kind:8} {size:>9,} cases: " + ", ".join(parts) + f" ({fired} fired)", flush=True)


if __name__ == "__main__":
    main()
