"""A migrated database on each backend, one transaction per test (tests/support/database.py)."""

from tests.support.database import conn, engine, postgres_engine, sqlite_engine  # noqa: F401  (fixtures)
