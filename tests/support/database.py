"""Migrated databases for the unit tests of database logic (cases, deadlines, votes, routing).

One database per backend for the whole session, migrated once (a fresh database per test would
cost a second each on PostgreSQL). ``conn``: a transaction of the test's own that is rolled back at
the end, so nothing one test writes is seen by the next. ``engine``: for tests that commit (the
diary's chain across transactions); they work on cases they open themselves and look at nothing
else. Folders whose tests need them import these fixtures in their ``conftest.py``. With
``MAILFLOW_TEST_ENCRYPTION=1`` (tests/support/crypt.py) they are encrypted at rest.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Connection, Engine

from mailflow.database import make_engine, migrate
from tests.support import services
from tests.support.crypt import default_keyring

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
"""The tests' "now": a fixed instant, so that nothing depends on the clock."""

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The embedded default: a SQLite file, migrated like ``mailflow init`` does."""
    engine = make_engine(
        f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'mailflow.sqlite3'}", keyring=default_keyring()
    )
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_engine() -> Iterator[Engine]:
    """A throw-away database on the PostgreSQL server, migrated; dropped at the end of the session."""
    with services.fresh_postgres_database() as url:
        engine = make_engine(url, keyring=default_keyring())
        migrate(engine)
        yield engine
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest) -> Engine:
    """The session's migrated database on each backend (what a test commits stays there)."""
    found: Engine = request.getfixturevalue(f"{request.param}_engine")
    return found


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction on each backend, rolled back after the test."""
    with engine.connect() as connection:
        connection.begin()
        try:
            yield connection
        finally:
            connection.rollback()
