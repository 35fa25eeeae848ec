"""The start-up check: are the configured keys the ones this database was written with?

The ``keyring_check`` table has a row for every key that may have sealed data here: a known text
sealed with that key. ``check_keys`` (run by ``mailflow.database.migrate``, which ``serve``,
``init`` and every command run before touching the data) refuses, with ConfigError, when

* the database has such rows and no key is configured (encryption was on; the key is missing),
* none of the configured keys is one the database was written with (a wrong key),
* a key the database names is missing from the configuration (removed before ``keys rotate``
  moved its data to the new key), or a configured key of that id does not open its row.

Only then does it write: the row of the first key, when it is new (encryption just turned on, or
a new key put first for a rotation). So a wrong key writes nothing, not even its check row.
``mailflow keys rotate`` removes the rows of the keys no value is sealed with any longer.
"""

from __future__ import annotations

import logging

from sqlalchemy import Connection, Engine, Integer, String, column, inspect, select, table
from sqlalchemy.exc import IntegrityError

from mailflow.clock import utcnow
from mailflow.columns import UTCDateTime
from mailflow.crypt.keyring import Keyring, SealError, aad_for
from mailflow.crypt.sealed import keyring_of
from mailflow.errors import ConfigError

log = logging.getLogger(__name__)

CHECK_TEXT = "mailflow keyring check"
_AAD = aad_for("keyring_check", "sealed")
KEYRING_CHECK = table(
    "keyring_check",
    column("id", Integer),
    column("key_id", String),
    column("sealed", String),
    column("created_at", UTCDateTime),
)
"""The table as this check reads it (``mailflow.model.KeyringCheck`` defines it): a light
description, so that every command's start-up check loads no ORM model."""
_kc = KEYRING_CHECK.c
_ROWS = select(_kc.key_id, _kc.sealed).order_by(_kc.id)


class KeyMismatch(ConfigError):
    """The configured encryption keys are not the ones this database was written with."""


def recorded(conn: Connection) -> dict[str, str]:
    """Key id -> its sealed check text, for every key the database may hold data under."""
    if not inspect(conn).has_table("keyring_check"):
        return {}
    return {str(kid): str(sealed) for kid, sealed in conn.execute(_ROWS)}


def seal_check(ring: Keyring) -> str:
    return ring.seal_text(CHECK_TEXT, _AAD)


def judge(ring: Keyring | None, rows: dict[str, str]) -> None:
    """Raise KeyMismatch unless ``ring`` may read and write a database with these check rows."""
    ids = ", ".join(rows)
    if ring is None:
        if rows:
            raise KeyMismatch(
                f"this database was written with encryption at rest (key id {ids}) and no encryption key is"
                " configured: set MAILFLOW_ENCRYPTION_KEY or [storage] encryption_key_file; nothing was written"
            )
        return
    known = [kid for kid in rows if kid in ring.ids]
    if rows and not known:
        raise KeyMismatch(
            f"the encryption key does not match the one this database was written with (written with key id"
            f" {ids}; configured: {', '.join(ring.ids)}); nothing was written"
        )
    missing = [kid for kid in rows if kid not in ring.ids]
    if missing:
        raise KeyMismatch(
            f"this database may still hold data sealed with key id {', '.join(missing)}, which is not configured:"
            " configure it again (after the new key) until `mailflow keys rotate` has finished; nothing was written"
        )
    for kid in known:
        try:
            opened = ring.open_text(rows[kid], _AAD, f"the check value of key {kid}")
        except SealError:
            opened = None
        if opened != CHECK_TEXT:
            raise KeyMismatch(
                f"the configured key with id {kid} does not open this database's check value (the key or the"
                " check row was altered); nothing was written"
            )


def check_keys(engine: Engine, *, record: bool = True) -> None:
    """Refuse keys that do not match the database; then (``record``) note the first key as in use."""
    ring = keyring_of(engine.dialect)
    with engine.connect() as conn:
        rows = recorded(conn)
    judge(ring, rows)
    if ring is None or not record or ring.primary in rows:
        return
    try:
        with engine.begin() as conn:
            rows = recorded(conn)
            judge(ring, rows)
            if ring.primary in rows:
                return
            row = {"key_id": ring.primary, "sealed": seal_check(ring), "created_at": utcnow()}
            conn.execute(KEYRING_CHECK.insert(), [row])
    except IntegrityError:  # another process starting at once wrote the same key's row
        return
    if rows:
        log.info("encryption key %s added; `mailflow keys rotate` moves the data to it", ring.primary)
    else:
        log.info(
            "encryption at rest is on (key %s); data written before stays readable until `mailflow keys rotate`"
            " seals it",
            ring.primary,
        )
