"""The sealed column types on real SQLite and PostgreSQL databases: round trips through Core and the
ORM, what is stored, associated data, wrong and unknown keys, plaintext written before encryption,
the blind index, SQL comparisons refused; every sealed column knows its own place; the schema has
no difference from the migrations."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, bindparam, func, select, text
from sqlmodel import Session, SQLModel

from mailflow import rekey as rotate
from mailflow.crypt.keyring import Keyring, SealError, UnknownKey, parse_key
from mailflow.crypt.sealed import BlindIndex, Sealed, SealedColumnError
from mailflow.database import connection, make_engine, migrate
from mailflow.model import Case, Party, PartyRole
from mailflow.model import core as t
from tests.support import services
from tests.support.crypt import ID_A, ID_B, KEY_A, KEY_B

NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
A, B = Keyring([parse_key(KEY_A)]), Keyring([parse_key(KEY_B)])
_numbers = iter(range(1, 10_000))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database (without encryption: each test makes the engines it needs)."""
    if request.param == "sqlite":
        found = f"sqlite:///{tmp_path_factory.mktemp('sealed') / 'mailflow.sqlite3'}"
        engine = make_engine(found)
        migrate(engine)
        engine.dispose()
        yield found
        return
    with services.fresh_postgres_database() as found:
        engine = make_engine(found)
        migrate(engine)
        engine.dispose()
        yield found


@pytest.fixture
def engines(url: str) -> Iterator[dict[str, Engine]]:
    """Engines on the same database: no key, key A, key B, and B then A."""
    made = {
        "plain": make_engine(url),
        "a": make_engine(url, keyring=A),
        "b": make_engine(url, keyring=B),
        "ba": make_engine(url, keyring=Keyring([parse_key(KEY_B), parse_key(KEY_A)])),
    }
    yield made
    for engine in made.values():
        engine.dispose()


def _case(engine: Engine, subject: str = "Report: Jane and Eric") -> int:
    number = next(_numbers)
    with connection(engine) as conn:
        case_id: int = conn.execute(
            t.cases.insert().returning(t.cases.c.id),
            {"ref": f"2026-{number:04d}", "year": 2026, "number": number, "state": "open", "created_at": NOW,
             "updated_at": NOW, "subject": subject, "imported": False},
        ).scalar_one()  # fmt: skip
    return case_id


def _party(engine: Engine, case_id: int) -> int:
    with Session(engine) as session:
        party = Party(
            case_id=case_id, role=PartyRole.REPORTED, name="Eric Example", address="eric@example.com",
            aliases=["@eric", "E."], added_at=NOW,
        )  # fmt: skip
        session.add(party)
        session.commit()
        assert party.id is not None
        return party.id


def _raw(engine: Engine, sql: str, **params: object) -> object:
    with engine.connect() as conn:
        return conn.execute(text(sql), params).scalar_one()


def test_values_round_trip_through_core_and_the_orm_and_are_stored_sealed(engines: dict[str, Engine]) -> None:
    case_id = _case(engines["a"])
    party_id = _party(engines["a"], case_id)
    with Session(engines["a"]) as session:
        party = session.get(Party, party_id)
        assert party is not None and (party.name, party.address, party.aliases) == (
            "Eric Example", "eric@example.com", ["@eric", "E."],
        )  # fmt: skip
        assert session.get(Case, case_id).subject == "Report: Jane and Eric"  # type: ignore[union-attr]
    with connection(engines["a"], read_only=True) as conn:
        assert conn.execute(select(t.party.c.aliases).where(t.party.c.id == party_id)).scalar_one() == ["@eric", "E."]
    stored = str(_raw(engines["plain"], "SELECT address FROM party WHERE id = :id", id=party_id))
    assert stored.startswith(f"mfenc1:{ID_A}:") and "eric" not in stored
    aliases = str(_raw(engines["plain"], "SELECT aliases FROM party WHERE id = :id", id=party_id))
    assert f"mfenc1:{ID_A}:" in aliases and "@eric" not in aliases
    with connection(engines["a"]) as conn:
        blob_id = conn.execute(
            t.blob.insert().returning(t.blob.c.id), {"data": b"Subject: hi\r\n\r\nJane"}
        ).scalar_one()
        assert (
            conn.execute(select(t.blob.c.data).where(t.blob.c.id == blob_id)).scalar_one() == b"Subject: hi\r\n\r\nJane"
        )
    data = _raw(engines["plain"], "SELECT data FROM blob WHERE id = :id", id=blob_id)
    assert bytes(data).startswith(b"\x00mfenc1:" + bytes.fromhex(ID_A)) and b"Jane" not in bytes(data)  # type: ignore[arg-type]


def test_a_value_moved_to_another_column_does_not_open(engines: dict[str, Engine]) -> None:
    party_id = _party(engines["a"], _case(engines["a"]))
    with engines["plain"].begin() as conn:
        conn.execute(text("UPDATE party SET name = address WHERE id = :id"), {"id": party_id})
    with Session(engines["a"]) as session, pytest.raises(SealError, match=r"party\.name .*moved from another column"):
        session.get(Party, party_id)


def test_a_wrong_key_reads_nothing_and_names_the_key_it_needs(engines: dict[str, Engine]) -> None:
    case_id = _case(engines["a"])
    with connection(engines["b"], read_only=True) as conn, pytest.raises(UnknownKey, match=f"key {ID_A}"):
        conn.execute(select(t.cases.c.subject).where(t.cases.c.id == case_id)).scalar_one()
    with connection(engines["ba"], read_only=True) as conn:  # with the old key configured too, it reads
        assert conn.execute(select(t.cases.c.subject).where(t.cases.c.id == case_id)).scalar_one().startswith("Report")
    # the JSON of a sealed column without any key: an error, never the sealed text as data
    party_id = _party(engines["a"], case_id)
    with connection(engines["plain"], read_only=True) as conn, pytest.raises(SealError, match="no encryption key"):
        conn.execute(select(t.party.c.aliases).where(t.party.c.id == party_id)).scalar_one()


def test_plaintext_written_before_encryption_still_reads(engines: dict[str, Engine]) -> None:
    case_id = _case(engines["plain"], "Written in plaintext")
    party_id = _party(engines["plain"], case_id)
    assert _raw(engines["plain"], "SELECT address FROM party WHERE id = :id", id=party_id) == "eric@example.com"
    with Session(engines["a"]) as session:
        party = session.get(Party, party_id)
        assert party is not None and (party.address, party.aliases) == ("eric@example.com", ["@eric", "E."])
        assert session.get(Case, case_id).subject == "Written in plaintext"  # type: ignore[union-attr]
    # and without encryption, values are stored and read exactly as they are
    with Session(engines["plain"]) as session:
        assert session.get(Party, party_id).aliases == ["@eric", "E."]  # type: ignore[union-attr]


def test_the_blind_index_finds_equal_values_without_storing_them(engines: dict[str, Engine]) -> None:
    with connection(engines["a"]) as conn:
        blob_id = conn.execute(t.blob.insert().returning(t.blob.c.id), {"data": b"x"}).scalar_one()
        token = f"tok{next(_numbers)}"
        conn.execute(
            t.outbound.insert(),
            {"kind": "system", "state": "queued", "created_at": NOW, "attempts": 0, "next_attempt_at": NOW,
             "message_id": f"<{token}@example.org>", "mail_from": "conduct@example.org",
             "recipients": ["jane@example.net"],
             "primary_recipient": "jane@example.net", "subject": "s", "blob_id": blob_id, "bounce_token": token},
        )  # fmt: skip
    o = t.outbound.c
    lookup = select(func.count()).where(o.primary_recipient == "jane@example.net", o.bounce_token == token)
    with connection(engines["a"], read_only=True) as conn:
        assert conn.execute(lookup).scalar() == 1
    with connection(engines["b"], read_only=True) as conn:  # another key: another index
        assert conn.execute(lookup).scalar() == 0
    stored = str(
        _raw(engines["plain"], "SELECT primary_recipient FROM outbound_message WHERE bounce_token = :t", t=token)
    )
    assert stored.startswith(f"mfidx1:{ID_A}:") and "jane" not in stored


def test_sealed_columns_cannot_be_compared_or_ordered_in_sql() -> None:
    d = t.diary.c
    for build in (
        lambda: d.from_addr == "jane@example.net",
        lambda: d.subject.like("%Jane%"),
        lambda: d.subject.desc(),
        lambda: d.to_addrs["x"],
        lambda: t.party.c.address.in_(["a"]),
    ):
        with pytest.raises(SealedColumnError, match="encrypted at rest"):
            build()
    with pytest.raises(SealedColumnError):
        _ = d.from_addr == bindparam("address")
    assert str(select(d.id).where(d.from_addr.is_(None), d.new_text.is_not(None))).count("IS") == 2
    # SQLAlchemy's own bookkeeping compares columns with columns (a column as a dict key): allowed
    assert {d.from_addr: 1}[d.from_addr._annotate({"x": 1})] == 1
    assert (d.from_addr == d.from_addr) is not None


def test_every_sealed_column_names_its_own_table_and_column() -> None:
    found = rotate.sealed_tables()
    assert {table.name for table, _ in found} >= {"blob", "party", "diary_entry", "outbound_message", "ban"}
    for table, columns in found:
        for column in columns:
            kind = column.type
            assert isinstance(kind, Sealed | BlindIndex)
            assert (kind.table, kind.column) == (table.name, column.name)
            if isinstance(kind, BlindIndex):
                assert isinstance(table.c[kind.source].type, Sealed)


def test_the_models_match_the_migrations(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_a_census_counts_each_key_and_the_plaintext(engines: dict[str, Engine], tmp_path: Path) -> None:
    _case(engines["b"], "under B")
    found = rotate.census(engines["plain"])
    assert found.counts["cases.subject"][ID_B] >= 1
    assert set(found.keys()) <= {ID_A, ID_B, rotate.PLAINTEXT}
