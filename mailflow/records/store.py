"""The case record's row: made on first use, changed one column at a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from mailflow.records import tables as r

_rc = r.case_record.c
_ONE = select(_rc.id, _rc.answers).where(_rc.case_id == bindparam("case_id"))
_INSERT = r.case_record.insert()


def ensure(conn: Connection, case_id: int, now: datetime) -> dict[str, Any]:
    """The case's answers so far (its record is made when it has none)."""
    row = conn.execute(_ONE, {"case_id": case_id}).first()
    if row is None:
        conn.execute(_INSERT, {"case_id": case_id, "summary": "", "answers": {}, "updated_at": now})
        return {}
    return dict(row[1] or {})


def update(conn: Connection, case_id: int, now: datetime, **values: Any) -> None:
    ensure(conn, case_id, now)
    conn.execute(r.case_record.update().where(_rc.case_id == case_id).values(updated_at=now, **values))


def get(conn: Connection, case_id: int, column: str) -> Any:
    return conn.execute(select(_rc[column]).where(_rc.case_id == case_id)).scalar()
