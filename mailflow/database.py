"""Engines, transactions and migrations for SQLite (embedded) and PostgreSQL (at scale)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import threading
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from mailflow.crypt.keyring import Keyring
from mailflow.crypt.sealed import attach
from mailflow.errors import TemporaryFailure

if TYPE_CHECKING:  # alembic and sqlmodel load only where used: a command that lists rows needs neither
    from alembic.config import Config as AlembicConfig
    from sqlmodel import Session

    from mailflow.config import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# Serialises threading and case numbering on PostgreSQL; SQLite serialises writers by itself.
THREADING_LOCK_KEY = 0x6D61696C66
MIGRATION_LOCK_KEY = 0x6D61696C67


class WriterLock:
    """SQLite's one writer, taken in turn: this process's threads queue on a lock, and processes
    (the listeners and the embedded worker processes) on an exclusive ``flock`` of a file beside
    the database. A blocked ``flock`` wakes as soon as the holder lets go, where SQLite's own busy
    handler sleeps in steps of up to 100 ms: the listener's spool commit (the 250) gets the
    database between two short processing transactions instead of starving behind them."""

    def __init__(self, path: Path | None) -> None:
        self._thread_lock = threading.Lock()
        self._path = path
        self._fd: int | None = None

    def __enter__(self) -> WriterLock:
        self._thread_lock.acquire()
        try:
            if self._path is not None:
                if self._fd is None:
                    self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                fcntl.flock(self._fd, fcntl.LOCK_EX)
        except OSError:
            pass  # no lock file (a read-only or full volume): SQLite's busy handler still serialises
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if self._fd is not None:
                with contextlib.suppress(OSError):
                    fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


_WRITERS: weakref.WeakKeyDictionary[Engine, WriterLock] = weakref.WeakKeyDictionary()

_THREADING_LOCK = text("SELECT pg_advisory_xact_lock(:key)")

# The SQLite write-ahead log: checkpointed into the database every WAL_AUTOCHECKPOINT pages, and
# cut back to WAL_SIZE_LIMIT bytes whenever it is reset (PRAGMA journal_size_limit), so that it
# cannot grow until it fills the volume; `mailflow serve` also truncates it periodically
# (``checkpoint``). [intake] min_free_space keeps room for it (mailflow.inbound.space).
WAL_AUTOCHECKPOINT = 2000  # pages of 4 KiB
WAL_SIZE_LIMIT = 64 * 1024 * 1024

# Execution options read when a transaction begins.
DURABLE = "mailflow_durable"
READ_ONLY = "mailflow_read_only"


def engine_for(settings: Settings) -> Engine:
    """The engine of the configured database, sealing with the configured keys ([storage])."""
    return make_engine(settings.database_url, keyring=settings.storage.keyring())


def make_engine(url: str, *, keyring: Keyring | None = None) -> Engine:
    """An engine tuned for the backend: WAL, full fsync and immediate write locks on SQLite.

    ``keyring``: encryption at rest (mailflow.crypt): the engine seals personal data with it on
    the way in and opens it on the way out; None: stored as it is (the default)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(url, secure_delete=keyring is not None)
    else:
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        engine = _postgres_engine(url)
    attach(engine, keyring)
    return engine


def _sqlite_engine(url: str, *, secure_delete: bool = False) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        if secure_delete:
            # Encryption at rest: what is deleted or overwritten (a row re-sealed by `mailflow keys
            # rotate`, plaintext written before encryption) is zeroed, not left in free pages.
            cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        options = connection.get_execution_options()
        if options.get(READ_ONLY, False):
            connection.exec_driver_sql("BEGIN")
            return
        synchronous = "FULL" if options.get(DURABLE, False) else "NORMAL"
        connection.exec_driver_sql(f"PRAGMA synchronous={synchronous}")
        # Writers take the write lock up front: no deadlock between two readers that both want to write.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    # SQLite has one writer at a time. Writers queue for it on this lock (WriterLock), instead of in
    # SQLite's busy handler, which sleeps in steps of up to 100 ms between attempts.
    _WRITERS[engine] = WriterLock(Path(f"{database}.writer") if database and database != ":memory:" else None)
    return engine


def _postgres_engine(url: str) -> Engine:
    engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if not connection.get_execution_options().get(DURABLE, False):
            connection.exec_driver_sql("SET LOCAL synchronous_commit = off")

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def transaction(engine: Engine, *, durable: bool = False, read_only: bool = False) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on error; database outages become TemporaryFailure.

    ``durable`` commits are on disk before they return (SQLite synchronous=FULL, PostgreSQL
    synchronous_commit=on). Use it where something outside learns of the commit: the 250 after the
    spool, the hand-over of a mail to the transport, the IMAP flag after intake. Every other commit
    is written through the same log but not waited for; a later durable commit makes every earlier
    one durable too (both logs are written in order), so after a power cut the database always
    holds a prefix of its history in which nothing has been promised that is not there.
    """
    from sqlmodel import Session

    writer = None if read_only else _WRITERS.get(engine)
    if durable or read_only:
        engine = engine.execution_options(**{DURABLE: durable, READ_ONLY: read_only})
    try:
        with writer or nullcontext(), Session(engine, expire_on_commit=False) as session:
            yield session
            session.commit()
    except OperationalError as exc:
        raise TemporaryFailure(f"database unavailable: {_reason(exc)}") from exc


@contextmanager
def connection(engine: Engine, *, durable: bool = False, read_only: bool = False) -> Iterator[Connection]:
    """The same unit of work as ``transaction``, as a Core Connection (the hot path's statements)."""
    writer = None if read_only else _WRITERS.get(engine)
    if durable or read_only:
        engine = engine.execution_options(**{DURABLE: durable, READ_ONLY: read_only})
    try:
        with writer or nullcontext(), engine.begin() as conn:
            yield conn
    except OperationalError as exc:
        raise TemporaryFailure(f"database unavailable: {_reason(exc)}") from exc


def checkpoint(engine: Engine) -> None:
    """SQLite: copy the write-ahead log into the database and truncate it to nothing, once no
    reader needs it (``mailflow serve`` does this every minute). A no-op on PostgreSQL."""
    if not is_sqlite(engine):
        return
    try:
        with _WRITERS[engine], engine.connect() as conn:
            # On the driver's connection, outside any transaction (ours would hold a snapshot the
            # checkpoint must wait for).
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # type: ignore[union-attr]
    except OperationalError as exc:
        raise TemporaryFailure(f"database unavailable: {_reason(exc)}") from exc
    except sqlite3.OperationalError as exc:
        raise TemporaryFailure(f"database unavailable: {exc}") from exc


def vacuum(engine: Engine, tables: Sequence[str] = ()) -> None:
    """Leave no overwritten or deleted value in a free page or a log (after ``mailflow keys
    rotate``): SQLite's file is rewritten (VACUUM) and its write-ahead log truncated; on PostgreSQL
    ``tables`` are vacuumed (their dead row versions' space is freed for reuse; ``VACUUM FULL``,
    which locks the tables, rewrites the files: the operator's to run)."""
    try:
        if is_sqlite(engine):
            with _WRITERS[engine], engine.connect() as conn:
                driver = conn.connection.driver_connection
                driver.execute("VACUUM")  # type: ignore[union-attr]
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()  # type: ignore[union-attr]
            return
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for table in tables:
                conn.exec_driver_sql(f'VACUUM "{table}"')
    except OperationalError as exc:
        raise TemporaryFailure(f"cannot compact the database now: {_reason(exc)}") from exc
    except sqlite3.OperationalError as exc:
        raise TemporaryFailure(f"cannot compact the database now (is `mailflow serve` writing?): {exc}") from exc


def lock_for_threading(conn: Connection) -> None:
    """Serialise the thread-and-record step across worker processes (SQLite serialises writers itself)."""
    if conn.dialect.name == "postgresql":
        conn.execute(_THREADING_LOCK, {"key": THREADING_LOCK_KEY})


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (idempotent), then check that the engine's
    encryption keys are the ones the database was written with (mailflow.crypt.check): a wrong or
    missing key raises ConfigError before anything is written."""
    from mailflow.crypt.check import check_keys

    try:
        check_keys(engine, record=False)  # an existing database refuses a wrong key before any migration writes
        _migrate(engine)
        check_keys(engine)
    except OperationalError as exc:
        raise TemporaryFailure(f"database unavailable at {engine.url.render_as_string()}: {_reason(exc)}") from exc


_REVISION = re.compile(r"^revision(?::\s*str)?\s*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?::[^=]*)?=\s*[\"']([^\"']+)[\"']", re.M)


@cache
def _shipped_heads() -> frozenset[str]:
    """The newest revision(s) among the migration files, read as text (no alembic import)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revisions.update(_REVISION.findall(source))
        parents.update(_DOWN_REVISION.findall(source))
    return frozenset(revisions - parents)


def schema_is_current(engine: Engine) -> bool:
    """True when the database's alembic_version names exactly the shipped head(s): one cheap query,
    no alembic. False when it cannot tell (no table yet, another revision): then ``migrate`` decides."""
    heads = _shipped_heads()
    if not heads:
        return False
    try:
        with engine.execution_options(**{READ_ONLY: True}).connect() as conn:
            current = {row[0] for row in conn.execute(text("SELECT version_num FROM alembic_version"))}
    except SQLAlchemyError:  # no alembic_version table (a new database), or unreachable: migrate() says which
        return False
    return current == heads


def _up_to_date(engine: Engine, config: AlembicConfig) -> bool:
    """Is the schema at the newest revision? Asked in a read-only transaction."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(config).get_heads())
    with engine.execution_options(**{READ_ONLY: True}).connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


def _reason(exc: OperationalError) -> str:
    text = str(exc.orig).strip().splitlines()
    return text[0][:200] if text else exc.orig.__class__.__name__


def _migrate(engine: Engine) -> None:
    if schema_is_current(engine):
        return
    from alembic import command

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    if _up_to_date(engine, config):
        return  # nothing to do, and nothing written: a full disk does not keep the service from starting
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            # Several processes may start at once (serve and its workers): one migrates, the rest wait.
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            if connection.in_transaction():
                connection.commit()
        finally:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
