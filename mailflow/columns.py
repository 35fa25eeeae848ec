"""Column types shared by the ORM models (``mailflow.model``) and light queries (the lists,
``mailflow status``, the metrics), here because importing anything from the ``mailflow.model``
package defines every ORM model first (sqlmodel and pydantic), which a command that only reads a
few columns does not need.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator

from mailflow.clock import as_utc


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC, hands back aware UTC datetimes on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)
