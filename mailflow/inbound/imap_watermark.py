"""How far each IMAP folder has been read: the highest UID whose bytes are in the spool.

Kept per (account, folder, UIDVALIDITY): when a server renumbers a folder (a new UIDVALIDITY) the
old watermark no longer applies and the folder is read again from UID 1; the spool recognises the
messages it already holds by their bytes, so nothing is stored twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, Table, bindparam, case, select
from sqlalchemy.dialects import postgresql, sqlite

from mailflow.clock import utcnow
from mailflow.database import connection
from mailflow.model.tables import ImapWatermark

WATERMARK: Table = ImapWatermark.__table__  # type: ignore[attr-defined]
_w = WATERMARK.c

_LAST_UID = select(_w.last_uid).where(
    _w.account == bindparam("account"), _w.folder == bindparam("folder"), _w.uidvalidity == bindparam("uidvalidity")
)
_ANY = select(_w.id).where(_w.account == bindparam("account"), _w.folder == bindparam("folder")).limit(1)


@dataclass(frozen=True, slots=True)
class FolderKey:
    account: str
    folder: str
    uidvalidity: int


def last_uid(engine: Engine, key: FolderKey) -> int | None:
    """The watermark under this UIDVALIDITY, or None when the folder was never read under it."""
    with connection(engine, read_only=True) as conn:
        return conn.execute(_LAST_UID, _params(key)).scalar()


def folder_known(engine: Engine, account: str, folder: str) -> bool:
    """Whether the folder was ever read, under any UIDVALIDITY."""
    with connection(engine, read_only=True) as conn:
        return conn.execute(_ANY, {"account": account, "folder": folder}).first() is not None


def advance(engine: Engine, key: FolderKey, uid: int) -> None:
    """Raise the watermark to ``uid``; never lowers it (two writers may race)."""
    with connection(engine) as conn:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        statement = dialect.insert(WATERMARK).values(**_params(key), last_uid=uid, updated_at=utcnow())
        higher = statement.excluded.last_uid > WATERMARK.c.last_uid
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[_w.account, _w.folder, _w.uidvalidity],
                set_={
                    "last_uid": case((higher, statement.excluded.last_uid), else_=WATERMARK.c.last_uid),
                    "updated_at": statement.excluded.updated_at,
                },
            )
        )


def _params(key: FolderKey) -> dict[str, object]:
    return {"account": key.account, "folder": key.folder, "uidvalidity": key.uidvalidity}
