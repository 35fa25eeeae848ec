"""Take a source's messages in, oldest first, through the spool and the pipeline, right here.

Each chunk of messages (in date order) is committed to the spool in one transaction, which gives
the new ones ascending ids in that order, and then processed at once, in that order: threading
depends on it, so imports never go through the queue. Every message is spooled with
``notify=False``: recorded and threaded, never acknowledged or fanned out. The spool recognises
bytes it already holds and the pipeline a Message-ID it already recorded, so importing again adds
nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from mailflow.clock import utcnow
from mailflow.committee import deadlines as schedule
from mailflow.database import connection
from mailflow.imports.source import Message, Source, date_order
from mailflow.inbound.spool import Envelope, Spool
from mailflow.model import CaseState, InboundSource, InboundState
from mailflow.model import core as t
from mailflow.runtime import Runtime

log = logging.getLogger(__name__)

CHUNK = 100


class Progress(Protocol):
    def begin(self, total: int) -> None: ...

    def advance(self, count: int) -> None: ...

    def end(self) -> None: ...


class NoProgress:
    def begin(self, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def end(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ImportStart:
    """How the cases an import opens start: history is recorded, not late.

    ``state``: new (the default: the committee looks at each), open, investigating, or closed
    (history that is done). ``deadlines``: plan the manuals' dates for the open ones, counted from
    the import (a status update after ``status_update_days``), never from the messages' dates; no
    acknowledgement is due, as none was sent."""

    state: CaseState = CaseState.NEW
    deadlines: bool = False


@dataclass(frozen=True, slots=True)
class ImportSummary:
    source: str
    read: int
    """Messages in the source that were taken (too big ones included)."""
    new: int
    """Stored for the first time."""
    already_present: int
    """The same bytes were already stored (an earlier import, or the live intake)."""
    duplicates: int
    """New bytes, but a Message-ID already recorded (another copy of the same mail)."""
    cases_opened: int
    quarantined: int
    too_big: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


def import_history(
    runtime: Runtime,
    source: Source,
    *,
    progress: Progress | None = None,
    chunk: int = CHUNK,
    start: ImportStart | None = None,
) -> ImportSummary:
    progress = progress or NoProgress()
    started = time.monotonic()
    spool = Spool(runtime.engine)  # no hand-off: the messages are processed here, in order
    max_size = int(runtime.settings.intake.max_message_size)
    ordered = date_order(source.entries())
    tally = _Tally()
    progress.begin(len(ordered))
    try:
        for begin in range(0, len(ordered), chunk):
            part = ordered[begin : begin + chunk]
            fits = [e for e in part if e.size is None or e.size <= max_size]
            read = list(source.read(fits))
            messages = [m for m in read if len(m.raw) <= max_size]
            too_big = [e.position for e in part if e.size is not None and e.size > max_size] + [
                m.entry.position for m in read if len(m.raw) > max_size
            ]
            for position in too_big:
                log.warning("message at position %d is over max_message_size: not imported", position)
            tally.too_big += len(too_big)
            tally.read += len(messages)
            if messages:
                _take(runtime, spool, messages, tally)
            progress.advance(len(part))
    finally:
        progress.end()
    _start_cases(runtime, tally.opened, start or ImportStart())
    summary = ImportSummary(
        source=source.label,
        read=tally.read + tally.too_big,
        new=tally.new,
        already_present=tally.already,
        duplicates=tally.duplicates,
        cases_opened=tally.cases,
        quarantined=tally.quarantined,
        too_big=tally.too_big,
        seconds=time.monotonic() - started,
    )
    log.info(
        "import of %d message(s): %d new, %d already present, %d case(s) opened, %d quarantined, %d too big",
        summary.read,
        summary.new,
        summary.already_present,
        summary.cases_opened,
        summary.quarantined,
        summary.too_big,
    )
    return summary


@dataclass
class _Tally:
    read: int = 0
    new: int = 0
    already: int = 0
    duplicates: int = 0
    cases: int = 0
    opened: list[int] = field(default_factory=list)
    quarantined: int = 0
    too_big: int = 0


def _take(runtime: Runtime, spool: Spool, messages: Sequence[Message], tally: _Tally) -> None:
    accepted = spool.accept_many(
        [(m.raw, Envelope(InboundSource.IMPORT, mail_from=None, origin=m.origin, notify=False)) for m in messages]
    )
    fresh = {a.inbound_id for a in accepted if a.new}
    tally.new += len(fresh)
    tally.already += len(accepted) - len(fresh)
    # Ids in date order, each once; those stored before (already processed, or left `received` by an
    # interrupted run) go along: the pipeline skips what it has done and finishes what it has not.
    ids = list(dict.fromkeys(a.inbound_id for a in accepted))
    for outcome in runtime.process_now(ids):
        if outcome.inbound_id not in fresh:
            continue
        tally.cases += outcome.created
        if outcome.created and outcome.case_id is not None:
            tally.opened.append(outcome.case_id)
        tally.quarantined += outcome.state is InboundState.QUARANTINED
        tally.duplicates += outcome.state is InboundState.DUPLICATE


def _start_cases(runtime: Runtime, case_ids: Sequence[int], start: ImportStart) -> None:
    """Put the cases this import opened in the state it was asked for, with deadlines if asked."""
    if not case_ids or (start.state is CaseState.NEW and not start.deadlines):
        return
    now = utcnow()
    notices = runtime.settings.notices
    with connection(runtime.engine) as conn:
        for begin in range(0, len(case_ids), 500):
            ids = list(case_ids[begin : begin + 500])
            conn.execute(
                t.cases.update().where(t.cases.c.id.in_(ids), t.cases.c.imported.is_(True)),
                {"state": start.state},
            )
            if start.deadlines:
                for case_id in ids:
                    schedule.plan_imported_case(conn, case_id, now, notices)
