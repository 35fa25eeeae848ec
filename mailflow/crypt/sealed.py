"""Column types that seal personal data on the way into the database and open it on the way out.

The engine holds the keyring (``attach``; ``mailflow.database.make_engine`` does it from the
settings): every statement run on it seals what it binds to a sealed column and opens what it reads
from one, through the ORM and Core alike. Without a keyring (encryption off, the default) the
types store and return values exactly as the plain types they wrap, so turning encryption off or
on needs no change to the schema: the column types stay what they were (text, bytes, JSON).

With a keyring, a value without the sealed prefix was written before encryption was turned on and
is read as it is (``mailflow keys rotate`` seals it). A value with the prefix that does not open is
an error, never returned as data.

A sealed column cannot be compared, ordered or searched in SQL (the ciphertext is different every
time): doing it raises at once, when the statement is built, instead of silently matching nothing.
``IS NULL`` is allowed (NULL is stored as NULL). Compare in Python after reading, or give the
column a blind index (``BlindIndex``) for equality lookups.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import JSON, Engine, LargeBinary, String
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.operators import OperatorType
from sqlalchemy.types import TypeDecorator

from mailflow.crypt.keyring import BYTES_PREFIX, TEXT_PREFIX, Keyring, SealError, aad_for
from mailflow.errors import MailflowError

_ATTRIBUTE = "mailflow_keyring"


class SealedColumnError(MailflowError):
    """A statement compares or orders a sealed column in SQL: it would never match."""


def attach(engine: Engine, keyring: Keyring | None) -> None:
    """Seal and open with ``keyring`` on this engine (None: encryption off)."""
    setattr(engine.dialect, _ATTRIBUTE, keyring)


def keyring_of(dialect: Dialect) -> Keyring | None:
    ring: Keyring | None = getattr(dialect, _ATTRIBUTE, None)
    return ring


class _Refusing(TypeDecorator.Comparator[Any]):
    __slots__ = ()
    allowed: frozenset[OperatorType] = frozenset({operators.is_, operators.is_not})

    def _check(self, op: OperatorType, other: tuple[Any, ...] = ()) -> None:
        if op in (operators.eq, operators.ne) and other and all(_is_column(o) for o in other):
            # column to column: SQLAlchemy's own bookkeeping does it (a column as a dict key)
            return
        if op not in self.allowed:
            what = getattr(self.expr.type, "what", "a sealed column")
            raise SealedColumnError(
                f"{what} is encrypted at rest: it cannot be compared, ordered or searched in SQL "
                f"({getattr(op, '__name__', op)}); read it and compare in Python"
            )

    def operate(self, op: OperatorType, *other: Any, **kwargs: Any) -> Any:
        self._check(op, other)
        return super().operate(op, *other, **kwargs)

    def reverse_operate(self, op: OperatorType, other: Any, **kwargs: Any) -> Any:
        self._check(op, (other,))
        return super().reverse_operate(op, other, **kwargs)


def _is_column(value: Any) -> bool:
    return isinstance(value, ColumnElement) and not isinstance(value, BindParameter)


class _Equality(_Refusing):
    __slots__ = ()
    allowed = frozenset({operators.is_, operators.is_not, operators.eq, operators.ne, operators.in_op})


class Sealed(TypeDecorator[Any]):
    """Base of the sealed types: knows its table and column (the associated data of its values)."""

    cache_ok = True
    comparator_factory = _Refusing

    def __init__(self, table: str, column: str) -> None:
        super().__init__()
        self.table = table
        self.column = column

    @property
    def what(self) -> str:
        return f"{self.table}.{self.column}"

    @property
    def aad(self) -> bytes:
        return aad_for(self.table, self.column)


class SealedText(Sealed):
    """Text: sealed as ``mfenc1:KEYID:BASE64``."""

    cache_ok = True
    impl = String

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        ring = keyring_of(dialect)
        if ring is None or value is None:
            return value
        return ring.seal_text(str(value), self.aad)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None or not value.startswith(TEXT_PREFIX):
            return value
        ring = keyring_of(dialect)
        if ring is None:
            return value  # encryption off: a value is what was written (mailflow.crypt.check guards this)
        return ring.open_text(value, self.aad, self.what)


class SealedBytes(Sealed):
    """Bytes (a message as received or sent): sealed as the prefix, key id, nonce and ciphertext."""

    cache_ok = True
    impl = LargeBinary

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        ring = keyring_of(dialect)
        if ring is None or value is None:
            return value
        return ring.seal_bytes(bytes(value), self.aad)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = bytes(value)
        if not value.startswith(BYTES_PREFIX):
            return value
        ring = keyring_of(dialect)
        if ring is None:
            return value
        return ring.open_bytes(value, self.aad, self.what)


class SealedJSON(Sealed):
    """A JSON value (list, object): its JSON text sealed, stored as a JSON string. A list or an
    object read back was written in plaintext; a string is a sealed value."""

    cache_ok = True
    impl = JSON
    hashable = False

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        ring = keyring_of(dialect)
        if ring is None or value is None:
            return value
        return ring.seal_text(json.dumps(value, ensure_ascii=False, separators=(",", ":")), self.aad)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if not isinstance(value, str) or not value.startswith(TEXT_PREFIX):
            return value
        ring = keyring_of(dialect)
        if ring is None:
            # Our JSON columns hold lists and objects: a string is sealed, and no key can open it.
            raise SealError(f"{self.what} is encrypted and no encryption key is configured")
        return json.loads(ring.open_text(value, self.aad, self.what))


class BlindIndex(TypeDecorator[Any]):
    """A keyed hash of a value, for equality lookups (``WHERE column = :value``): the value bound
    to it, in the row or in a comparison, is replaced by HMAC-SHA256 under a key derived from the
    first key. Read back, it is that hash. ``source`` names the sealed column of the same row it is
    derived from (``mailflow keys rotate`` recomputes it from there; see mailflow.rekey)."""

    impl = String
    cache_ok = True
    comparator_factory = _Equality

    def __init__(self, table: str, column: str, source: str) -> None:
        super().__init__()
        self.table = table
        self.column = column
        self.source = source

    @property
    def what(self) -> str:
        return f"{self.table}.{self.column}"

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        ring = keyring_of(dialect)
        if ring is None or value is None:
            return value
        return ring.index(str(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return value
