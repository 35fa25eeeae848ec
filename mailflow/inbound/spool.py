"""Durable before acknowledged: commit the raw bytes, then hand the id on. Nothing else.

``Spool.accept`` stores one message in one transaction. ``GroupCommitSpool`` is the same for the
network listeners: concurrent deliveries are committed together in one transaction (one fsync), and
each caller is answered only after that commit. Identical bytes delivered again are recognised by
their SHA-256 and not stored twice.

What is stored, and what the dedupe key covers:

* ``sha256`` (the dedupe key) and ``size`` are those of the bytes exactly as the client sent them;
* the blob holds our own ``Received:`` field (``Envelope.trace``, mailflow.parse.trace) followed
  by those bytes. The field differs for every delivery (its date, the client), so it is kept out
  of the key: the same bytes delivered again, by another MX or after a lost 250, are still
  recognised, and the first delivery's trace is the one kept. Imported history has no trace.
  ``mailflow.parse.trace.without_trace(blob)`` gives back the bytes as sent.
* the inbound row's ``origin`` holds, for SMTP and LMTP, the client's IP address (``"peer"``) and
  its HELO name (``"helo"``), so that code can decide trust by connection without re-reading the
  field.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Result, insert, select
from sqlalchemy.exc import IntegrityError

from mailflow import metrics
from mailflow.clock import utcnow
from mailflow.database import connection
from mailflow.errors import TemporaryFailure
from mailflow.model import Blob, InboundMessage, InboundSource, InboundState
from mailflow.parse.trace import Trace, newline_of

log = logging.getLogger(__name__)

BLOB = Blob.__table__  # type: ignore[attr-defined]
INBOUND = InboundMessage.__table__  # type: ignore[attr-defined]

OnCommitted = Callable[[Sequence[int]], None]


@dataclass(frozen=True, slots=True)
class Envelope:
    source: InboundSource
    mail_from: str | None = None
    """SMTP MAIL FROM; '' is the null reverse-path ``<>``, None means unknown (IMAP, import)."""
    rcpt_to: tuple[str, ...] = ()
    origin: dict[str, Any] = field(default_factory=dict)
    """Where it came from beyond SMTP: IMAP folder/UIDVALIDITY/UID, import file and position."""
    notify: bool = True
    """False for imported history: record it, acknowledge and fan out nothing."""
    trace: Trace | None = None
    """Our Received field, put on top of the stored bytes (None: imported history)."""


@dataclass(frozen=True, slots=True)
class Accepted:
    inbound_id: int
    new: bool  # False when the same bytes were already in the spool


def digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


class Spool:
    def __init__(self, engine: Engine, on_committed: OnCommitted | None = None) -> None:
        self._engine = engine
        self._on_committed = on_committed

    def accept(self, raw: bytes, envelope: Envelope) -> Accepted:
        return self.accept_many([(raw, envelope)])[0]

    @metrics.spooled
    def accept_many(self, items: Sequence[tuple[bytes, Envelope]]) -> list[Accepted]:
        """Commit every item in one transaction; returns one Accepted per item, in order."""
        try:
            results = self._store(items)
        except IntegrityError:
            # Another process stored some of the same bytes meanwhile: fall back to one at a time.
            results = [self._store([item])[0] for item in items]
        fresh = [r.inbound_id for r in results if r.new]
        if fresh and self._on_committed is not None:
            try:
                self._on_committed(fresh)
            except Exception as exc:  # stored is stored: the broker away, the sweep hands them on later
                log.warning("%d stored message(s) left for the sweep: %s", len(fresh), exc.__class__.__name__)
        return results

    def _store(self, items: Sequence[tuple[bytes, Envelope]]) -> list[Accepted]:
        digests = [digest(raw) for raw, _ in items]
        with connection(self._engine, durable=True) as conn:
            known = _existing(conn, set(digests))
            fresh: dict[str, tuple[bytes, Envelope]] = {}
            for (raw, envelope), sha in zip(items, digests, strict=True):
                if sha not in known:
                    fresh.setdefault(sha, (raw, envelope))
            known.update(_insert(conn, fresh))
        results, announced = [], set()
        for sha in digests:
            # new only for the first item of the batch that brought these bytes
            results.append(Accepted(known[sha], new=sha in fresh and sha not in announced))
            announced.add(sha)
        return results


def _existing(conn: Connection, digests: set[str]) -> dict[str, int]:
    rows: Result[str, int] = conn.execute(select(INBOUND.c.sha256, INBOUND.c.id).where(INBOUND.c.sha256.in_(digests)))
    return {sha: id_ for sha, id_ in rows}


def _insert(conn: Connection, fresh: dict[str, tuple[bytes, Envelope]]) -> dict[str, int]:
    """Insert blobs and inbound rows for the new bytes, in two statements (SQLAlchemy Core:
    the ORM's per-object bookkeeping costs more than the rest of the spool)."""
    if not fresh:
        return {}
    shas = list(fresh)
    now = utcnow()
    blobs = [{"data": _stored(*fresh[sha], now)} for sha in shas]
    blob_ids: Sequence[int] = (
        conn.execute(insert(BLOB).returning(BLOB.c.id, sort_by_parameter_order=True), blobs).scalars().all()
    )
    rows = [
        {
            "received_at": now,
            "source": envelope.source,
            "mail_from": _text(envelope.mail_from),
            "rcpt_to": [_text(r) for r in envelope.rcpt_to],
            "sha256": sha,
            "size": len(raw),
            "blob_id": blob_id,
            "origin": dict(envelope.origin),
            "state": InboundState.RECEIVED,
            "notify": envelope.notify,
        }
        for sha, blob_id in zip(shas, blob_ids, strict=True)
        for raw, envelope in (fresh[sha],)
    ]
    ids: Sequence[int] = (
        conn.execute(insert(INBOUND).returning(INBOUND.c.id, sort_by_parameter_order=True), rows).scalars().all()
    )
    return dict(zip(shas, ids, strict=True))


def _stored(raw: bytes, envelope: Envelope, now: datetime) -> bytes:
    """The blob: our trace field, in the message's own line ending, then the bytes as sent."""
    if envelope.trace is None:
        return raw
    return envelope.trace.field(now, newline_of(raw)) + raw


def _text(value: str | None) -> str | None:
    """Envelope strings as stored: no NUL (PostgreSQL refuses it in text)."""
    return value.replace("\x00", "") if value else value


_STOP = object()


class GroupCommitSpool:
    """A writer thread that commits concurrent deliveries together, one fsync per batch."""

    def __init__(self, spool: Spool, max_batch: int = 256) -> None:
        self._spool = spool
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="spool-writer", daemon=True)
        self._thread.start()

    def submit(self, raw: bytes, envelope: Envelope) -> Future[Accepted]:
        future: Future[Accepted] = Future()
        self._queue.put((raw, envelope, future))
        return future

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._commit(batch)
            if stop:
                return

    def _commit(self, batch: list[tuple[bytes, Envelope, Future[Accepted]]]) -> None:
        try:
            results = self._spool.accept_many([(raw, env) for raw, env, _ in batch])
        except TemporaryFailure as exc:
            for *_, future in batch:
                future.set_exception(exc)
            return
        except Exception as exc:  # never leave a client hanging; it will retry on 451
            log.exception("spool commit failed")
            for *_, future in batch:
                future.set_exception(TemporaryFailure(f"spool commit failed: {exc.__class__.__name__}"))
            return
        for (*_, future), result in zip(batch, results, strict=True):
            future.set_result(result)
