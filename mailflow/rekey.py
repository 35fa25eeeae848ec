"""Every sealed value moved to the first configured key (``mailflow keys rotate``), and a census of
which key seals what (``mailflow keys status``).

Rotation reads each table with sealed columns in batches of rows, by id, each batch in a
transaction of its own (rows locked on PostgreSQL; SQLite has one writer at a time): a value sealed
with another configured key is opened and sealed again with the first key, a value written before
encryption was turned on is sealed, a blind index is computed again from the value it indexes.
The plaintext never changes, so the diaries' hash chains verify as before. Interrupted, it is run
again: rows already under the first key are only read. When a last pass finds nothing under any
other key, the other keys' check rows are removed (mailflow.crypt.check): from then on the old key
may be dropped from the configuration, and the service refuses to start without the new one.

On SQLite the file is then rewritten (VACUUM) and the write-ahead log truncated, so the freed
pages keep neither the old ciphertext nor the plaintext of rows sealed for the first time (with
encryption on, ``PRAGMA secure_delete`` zeroes what is deleted as it goes). On PostgreSQL the
tables are vacuumed, which frees the old row versions for reuse but leaves their bytes in the files
until overwritten: ``VACUUM FULL`` rewrites them (it locks the tables: the operator's to run). The
PostgreSQL WAL archive and every backup keep what they had: a backup made before holds the
plaintext or the old key's ciphertext.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Engine, Table, bindparam, delete, select, type_coerce
from sqlmodel import SQLModel

import mailflow.model.tables
import mailflow.records.tables
from mailflow.crypt.keyring import Keyring, SealError, bytes_key_id, index_key_id, text_key_id
from mailflow.crypt.sealed import BlindIndex, Sealed, SealedBytes, SealedJSON, SealedText, keyring_of
from mailflow.database import connection, vacuum
from mailflow.errors import ConfigError
from mailflow.model import core as t

BATCH = 500
PLAINTEXT = "plaintext"
"""The census's name for values written before encryption was turned on."""


def sealed_tables() -> list[tuple[Table, list[Column[Any]]]]:
    """Every table with sealed (or blind-indexed) columns, and those columns."""
    assert mailflow.model.tables and mailflow.records.tables  # both register their tables on the metadata
    found = []
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, Sealed | BlindIndex)]
        if columns:
            found.append((table, columns))
    return found


def state_of(column: Column[Any], raw: Any) -> str | None:
    """The key id that sealed a stored value, PLAINTEXT, or None for NULL."""
    if raw is None:
        return None
    kind = column.type
    if isinstance(kind, SealedBytes):
        return bytes_key_id(bytes(raw)) or PLAINTEXT
    if isinstance(kind, BlindIndex):
        return index_key_id(raw) or PLAINTEXT
    if isinstance(raw, str):
        return text_key_id(raw) or PLAINTEXT
    return PLAINTEXT  # a JSON list or object written in plaintext


def _opened(ring: Keyring, column: Column[Any], raw: Any) -> Any:
    """The plaintext of a stored value (as the column's Python value)."""
    kind = column.type
    assert isinstance(kind, Sealed)
    sealed = state_of(column, raw) != PLAINTEXT
    if isinstance(kind, SealedBytes):
        return ring.open_bytes(bytes(raw), kind.aad, kind.what) if sealed else bytes(raw)
    if isinstance(kind, SealedJSON):
        return json.loads(ring.open_text(raw, kind.aad, kind.what)) if sealed else raw
    return ring.open_text(raw, kind.aad, kind.what) if sealed else raw


def _sealed(ring: Keyring, column: Column[Any], value: Any) -> Any:
    kind = column.type
    assert isinstance(kind, Sealed)
    if isinstance(kind, SealedBytes):
        return ring.seal_bytes(value, kind.aad)
    if isinstance(kind, SealedJSON):
        return ring.seal_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), kind.aad)
    assert isinstance(kind, SealedText)
    return ring.seal_text(value, kind.aad)


def _index_source(value: Any) -> str | None:
    """What a blind index is computed from: its source value (a list: the first), lowercased, as
    ``mailflow.outbound.outbox`` writes ``primary_recipient``."""
    if isinstance(value, list):
        value = value[0] if value else None
    return None if value is None else str(value).lower()


@dataclass
class Census:
    """Per table and column: how many values each key seals (and how many are plaintext)."""

    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def add(self, where: str, state: str | None) -> None:
        if state is not None:
            self.counts.setdefault(where, Counter())[state] += 1

    def keys(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for counter in self.counts.values():
            total.update(counter)
        return total


def _raw_rows(engine: Engine, table: Table, columns: list[Column[Any]], batch: int) -> Iterator[list[Any]]:
    """The rows' ids and stored values, a batch at a time (read-only)."""
    raw = [type_coerce(c, c.type.impl_instance).label(c.name) for c in columns]  # type: ignore[attr-defined]
    after = 0
    while True:
        query = select(table.c.id, *raw).where(table.c.id > after).order_by(table.c.id).limit(batch)
        with connection(engine, read_only=True) as conn:
            rows = list(conn.execute(query))
        if not rows:
            return
        yield rows
        after = rows[-1][0]


def census(engine: Engine, batch: int = BATCH) -> Census:
    found = Census()
    for table, columns in sealed_tables():
        for rows in _raw_rows(engine, table, columns, batch):
            for row in rows:
                for i, column in enumerate(columns, start=1):
                    found.add(f"{table.name}.{column.name}", state_of(column, row[i]))
    return found


@dataclass
class Rotated:
    key_id: str
    resealed: Counter[str] = field(default_factory=Counter)
    """Per table: values moved from another key."""
    sealed: Counter[str] = field(default_factory=Counter)
    """Per table: plaintext values sealed for the first time."""
    retired: list[str] = field(default_factory=list)
    """The key ids whose check rows were removed: no value is sealed with them any longer."""
    compacted: bool = False


def _rotate_table(
    engine: Engine, ring: Keyring, table: Table, columns: list[Column[Any]], batch: int, outcome: Rotated
) -> int:
    """One pass over a table; the number of rows changed."""
    raw = [type_coerce(c, c.type.impl_instance).label(c.name) for c in columns]  # type: ignore[attr-defined]
    update = (
        table.update()
        .where(table.c.id == bindparam("_id"))
        .values({c.name: bindparam(f"_v_{c.name}", type_=c.type.impl_instance) for c in columns})  # type: ignore[attr-defined]
    )
    by_name = {c.name: c for c in columns}
    changed = 0
    after = 0
    while True:
        with connection(engine) as conn:
            query = select(table.c.id, *raw).where(table.c.id > after).order_by(table.c.id).limit(batch)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            rows = list(conn.execute(query))
            if not rows:
                return changed
            params = []
            for row in rows:
                values = {c.name: row[i] for i, c in enumerate(columns, start=1)}
                new = dict(values)
                for column in columns:
                    state = state_of(column, values[column.name])
                    if state is None or state == ring.primary:
                        continue
                    try:
                        if isinstance(column.type, BlindIndex):
                            source = by_name[column.type.source]
                            plain = _index_source(_opened(ring, source, values[source.name]))
                            new[column.name] = None if plain is None else ring.index(plain)
                            continue
                        new[column.name] = _sealed(ring, column, _opened(ring, column, values[column.name]))
                    except SealError as exc:
                        raise SealError(f"{exc} (row id {row[0]})") from None
                    (outcome.sealed if state == PLAINTEXT else outcome.resealed)[table.name] += 1
                if new != values:
                    params.append({"_id": row[0], **{f"_v_{k}": v for k, v in new.items()}})
            if params:
                conn.execute(update, params)
                changed += len(params)
            after = rows[-1][0]


def rotate(
    engine: Engine, *, batch: int = BATCH, compact: bool = True, progress: Callable[[str], None] | None = None
) -> Rotated:
    """Seal every value with the first key; then retire the other keys' check rows and (SQLite)
    rewrite the file. Safe to interrupt and run again."""
    ring = keyring_of(engine.dialect)
    if ring is None:
        raise ConfigError(
            "no encryption key is configured: set MAILFLOW_ENCRYPTION_KEY or [storage] encryption_key_file"
        )
    outcome = Rotated(ring.primary)
    tables = sealed_tables()
    for _attempt in range(3):  # a second pass catches what a running service wrote meanwhile
        changed = 0
        for table, columns in tables:
            n = _rotate_table(engine, ring, table, columns, batch, outcome)
            changed += n
            if progress and n:
                progress(f"{table.name}: {n} row(s) sealed with key {ring.primary}")
        if not changed:
            break
    left = census(engine, batch).keys()
    if set(left) - {ring.primary}:
        return outcome  # something is still under another key: keep every key's check row
    with connection(engine) as conn:
        kc = t.keyring_check.c
        outcome.retired = [str(k) for (k,) in conn.execute(select(kc.key_id).where(kc.key_id != ring.primary))]
        conn.execute(delete(t.keyring_check).where(kc.key_id != ring.primary))
    if compact:
        vacuum(engine, [table.name for table, _ in tables])
        outcome.compacted = True
    return outcome
