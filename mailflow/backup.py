"""Backups of the database, restoring one, and checking what a database holds.

Everything Mailflow keeps is in its database: cases and their diaries, every inbound message's
bytes (blobs), the outbox with every outgoing mail's bytes, drafts, held mail, alerts. A backup is
therefore a copy of the database:

* **SQLite**: SQLite's online backup API (``sqlite3.Connection.backup``) copies the database in one
  step inside a read transaction: a consistent snapshot, taken while the service runs (in WAL
  mode readers and the writer do not block each other). The copy is one self-contained file
  (journal mode DELETE), written next to its destination and renamed into place once complete,
  readable by its owner only (mode 0600), as is a pg_dump archive.
* **PostgreSQL**: ``pg_dump --format=custom`` (PostgreSQL's documented way: one consistent
  snapshot; restored with ``pg_restore``). Needs the PostgreSQL client programs, of the server's
  major version or newer.

``restore`` writes a backup into an *empty* database (a new data directory for SQLite, a newly
created database for PostgreSQL) and refuses a database that holds anything. ``check`` verifies a
database the way an auditor would: every case's diary chain (:func:`mailflow.case.diary.verify`)
and every inbound message's SHA-256 over the bytes as they were sent (the blob's last ``size``
bytes: the blob begins with our own Received field), and counts what is there. No body, no
address is printed: counts, case references and message ids only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, LargeBinary, column, func, select, table, text
from sqlalchemy.engine import make_url

from mailflow.errors import MailflowError

if TYPE_CHECKING:
    from mailflow.config import Settings

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
_BATCH = 200  # inbound messages read per query while checking (bounded memory for big blobs)


class BackupError(MailflowError):
    """A backup or a restore could not be made; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class Made:
    path: Path
    kind: str  # "sqlite" or "pg_dump"
    size: int


@dataclass
class Check:
    """What a database holds, and what of it does not verify."""

    cases: int = 0
    diary_entries: int = 0
    inbound: int = 0
    outbound: int = 0
    blobs: int = 0
    broken_diaries: list[str] = field(default_factory=list)
    """Case references whose diary chain is broken."""
    bad_messages: list[int] = field(default_factory=list)
    """Inbound message ids whose stored bytes do not match their SHA-256 (or are missing)."""

    @property
    def ok(self) -> bool:
        return not self.broken_diaries and not self.bad_messages

    def as_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "cases": self.cases,
            "diary_entries": self.diary_entries,
            "inbound_messages": self.inbound,
            "outbound_messages": self.outbound,
            "blobs": self.blobs,
            "broken_diaries": self.broken_diaries,
            "bad_messages": self.bad_messages,
        }


def backend(url: str) -> str:
    return "sqlite" if make_url(url).get_backend_name() == "sqlite" else "postgresql"


def sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("the database is in memory: there is nothing on disk to back up")
    return Path(database)


# -- backup -----------------------------------------------------------------------------------------


def backup(settings: Settings, destination: Path) -> Made:
    """Write a backup of the configured database to ``destination`` (replaced only once complete)."""
    url = settings.database_url
    destination = destination.expanduser()
    if destination.is_dir():
        raise BackupError(f"{destination} is a directory: name the backup file")
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(destination.name + ".partial")
    partial.unlink(missing_ok=True)
    os.close(os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))  # readable by the operator only
    try:
        if backend(url) == "sqlite":
            _sqlite_backup(sqlite_file(url), partial)
            kind = "sqlite"
        else:
            _run(["pg_dump", "--format=custom", "--compress=6", f"--file={partial}"], url)
            kind = "pg_dump"
        _fsync(partial)
        os.replace(partial, destination)
        _fsync_dir(destination.parent)
    finally:
        partial.unlink(missing_ok=True)
    return Made(destination, kind, destination.stat().st_size)


def _sqlite_backup(source: Path, target: Path) -> None:
    if not source.exists():
        raise BackupError(f"no database at {source} (run mailflow init first)")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        src.backup(dst)  # all pages in one step: one read transaction, a consistent snapshot
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        dst.commit()
    except sqlite3.Error as exc:
        raise BackupError(f"SQLite backup failed: {exc}") from exc
    finally:
        dst.close()
        src.close()


# -- restore ----------------------------------------------------------------------------------------


def kind_of(path: Path) -> str:
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "pg_dump"
    raise BackupError(f"{path} is neither a Mailflow SQLite backup nor a pg_dump custom-format archive")


def restore(settings: Settings, source: Path) -> str:
    """Write the backup at ``source`` into the configured database, which must be empty."""
    if not source.is_file():
        raise BackupError(f"no backup file at {source}")
    kind = kind_of(source)
    url = settings.database_url
    if backend(url) == "sqlite":
        if kind != "sqlite":
            raise BackupError("this is a PostgreSQL backup; restore it into a PostgreSQL database ([database] url)")
        target = sqlite_file(url)
        if _sqlite_holds_data(target):
            raise BackupError(f"{target} already holds a database: restore into an empty data directory")
        for leftover in (target, target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
            leftover.unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                dst.execute("PRAGMA journal_mode=WAL")
                dst.commit()
            finally:
                dst.close()
                src.close()
            _fsync(partial)
            os.replace(partial, target)
            _fsync_dir(target.parent)
        except sqlite3.Error as exc:
            raise BackupError(f"SQLite restore failed: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)
        return "sqlite"
    if kind != "pg_dump":
        raise BackupError("this is an SQLite backup; restore it with an SQLite [database] url (a new data directory)")
    if _postgres_holds_data(url):
        raise BackupError("the database already holds tables: create an empty one (createdb) and restore into it")
    _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction", str(source)], url)
    return "pg_dump"


def _sqlite_holds_data(path: Path) -> bool:
    if not path.exists() or path.stat().st_size == 0:
        return False
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return bool(conn.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])
    finally:
        conn.close()


def _postgres_holds_data(url: str) -> bool:
    from mailflow.database import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()")
            ).scalar()
    finally:
        engine.dispose()
    return bool(found)


# -- check ------------------------------------------------------------------------------------------

_inbound = table("inbound_message", column("id"), column("sha256"), column("size"), column("blob_id"), column("state"))
_blob = table("blob", column("id"), column("data", LargeBinary))


def check(engine: Engine) -> Check:
    """Verify every diary chain and every inbound message's bytes; count what is there."""
    from sqlmodel import Session, col

    from mailflow.case import diary
    from mailflow.model import Case

    found = Check()
    with engine.connect() as conn:
        for name, attr in (("cases", "cases"), ("diary_entry", "diary_entries"), ("inbound_message", "inbound"),
                           ("outbound_message", "outbound"), ("blob", "blobs")):  # fmt: skip
            setattr(found, attr, int(conn.execute(select(func.count()).select_from(table(name))).scalar() or 0))
        last = 0
        while True:
            rows = conn.execute(
                select(_inbound.c.id, _inbound.c.sha256, _inbound.c.size, _blob.c.data)
                .select_from(_inbound.outerjoin(_blob, _blob.c.id == _inbound.c.blob_id))
                .where(_inbound.c.id > last)
                .order_by(_inbound.c.id)
                .limit(_BATCH)
            ).all()
            if not rows:
                break
            for row in rows:
                stored: bytes | None = bytes(row.data) if row.data is not None else None
                size = int(row.size)
                sent = stored[len(stored) - size :] if stored is not None and len(stored) >= size else None
                if sent is None or hashlib.sha256(sent).hexdigest() != row.sha256:
                    found.bad_messages.append(int(row.id))
            last = int(rows[-1].id)
    with Session(engine) as session:
        for row in session.execute(select(col(Case.id), col(Case.ref)).order_by(col(Case.id))):
            if diary.verify(session, int(row[0])) is not None:
                found.broken_diaries.append(str(row[1]))
    return found


def check_file(path: Path) -> Check:
    """Check an SQLite backup file in place (opened read-only; nothing is written to it)."""
    from sqlalchemy import create_engine

    if kind_of(path) != "sqlite":
        raise BackupError("only an SQLite backup can be checked in place; restore a pg_dump archive, then check")
    where = f"file:{path.resolve()}?mode=ro"
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(where, uri=True, check_same_thread=False))
    try:
        return check(engine)
    finally:
        engine.dispose()


def pg_archive_tables(path: Path) -> list[str]:
    """The tables whose data a pg_dump archive holds (``pg_restore --list``): proof it is readable."""
    listing = _run(["pg_restore", "--list", str(path)], None)
    return sorted({line.split()[-2] for line in listing.splitlines() if " TABLE DATA " in line})


# -- helpers ----------------------------------------------------------------------------------------


def _run(argv: list[str], url: str | None) -> str:
    """Run a PostgreSQL client program against ``url`` (the password through the environment,
    never on the command line)."""
    if shutil.which(argv[0]) is None:
        raise BackupError(f"{argv[0]} not found: install the PostgreSQL client programs (postgresql-client)")
    env = dict(os.environ)
    if url is not None:
        parsed = make_url(url)
        if parsed.password is not None:
            env["PGPASSWORD"] = str(parsed.password)
        libpq = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
        argv = [*argv[:1], f"--dbname={libpq}", *argv[1:]]
    done = subprocess.run(argv, capture_output=True, env=env, check=False)
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise BackupError(f"{argv[0]} failed: {reason[-1] if reason else f'exit status {done.returncode}'}")
    return done.stdout.decode(errors="replace")


def _fsync(path: Path) -> None:
    with path.open("rb") as handle:
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
