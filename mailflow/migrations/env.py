"""Alembic environment: runs on the connection mailflow hands it, or on the configured URL.

Encryption at rest (mailflow.crypt): the columns that hold personal data are sealed by their
SQLAlchemy types, not by the schema. A data migration that reads or writes such a column must use
the model's tables (``mailflow.model.core``, ``mailflow.records.tables``) on mailflow's connection,
whose engine holds the keys; a reflected table would read the sealed text and write plaintext."""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from sqlalchemy import Connection, create_engine
from sqlmodel import SQLModel

import mailflow.model  # noqa: F401  (registers the tables on the metadata)
from mailflow.crypt.sealed import BlindIndex, Sealed

target_metadata = SQLModel.metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
        with engine.connect() as connection:
            _run_on(connection)
            connection.commit()
    else:
        _run_on(connection)


def _render_item(kind: str, obj: Any, _context: Any) -> str | Literal[False]:
    """A sealed column (mailflow.crypt.sealed) is its plain type in the schema: autogenerate writes
    that type (sa.String(), sa.LargeBinary(), sa.JSON()), so no migration depends on the sealing."""
    if kind == "type" and isinstance(obj, Sealed | BlindIndex):
        return f"sa.{obj.impl_instance!r}"
    return False


def _run_on(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
