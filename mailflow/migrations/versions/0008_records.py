"""records: the case record (type, source, category, summary, assessment), the ban register, links
between cases, copies of records mailed to members, and the periodic tasks' last runs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 10:00:00

Cases that are already open get a record marked as if their lead had been sent the assessment
questionnaire: it is sent only for cases a lead is assigned to from now on (``/assess`` shows it).
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import mailflow.model.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = mailflow.model.types.UTCDateTime(timezone=True)


def _text(length: int | None = None) -> sa.types.TypeEngine[str]:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    op.create_table(
        "case_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_type", _text(16), nullable=True),
        sa.Column("source", _text(32), nullable=True),
        sa.Column("category", _text(64), nullable=True),
        sa.Column("summary", _text(), nullable=False),
        sa.Column("answers", sa.JSON(), nullable=False),
        sa.Column("questionnaire_at", _UTC, nullable=True),
        sa.Column("merged_into", sa.Integer(), nullable=True),
        sa.Column("resolved_on", _UTC, nullable=True),
        sa.Column("anonymised_at", _UTC, nullable=True),
        sa.Column("updated_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["merged_into"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id"),
    )
    op.create_table(
        "ban",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("party_id", sa.Integer(), nullable=True),
        sa.Column("person", _text(), nullable=True),
        sa.Column("address", _text(), nullable=True),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("scope", _text(), nullable=False),
        sa.Column("starts_on", _UTC, nullable=False),
        sa.Column("ends_on", _UTC, nullable=True),
        sa.Column("review_on", _UTC, nullable=True),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("created_by", _text(200), nullable=False),
        sa.Column("lifted_at", _UTC, nullable=True),
        sa.Column("lifted_by", _text(200), nullable=True),
        sa.Column("lift_reason", _text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["party_id"], ["party.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_ban_case_id"), "ban", ["case_id"], unique=False)
    op.create_table(
        "case_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("other_case_id", sa.Integer(), nullable=False),
        sa.Column("kind", _text(16), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("created_by", _text(200), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["other_case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "other_case_id", "kind"),
    )
    op.create_index(op.f("ix_case_link_case_id"), "case_link", ["case_id"], unique=False)
    op.create_index(op.f("ix_case_link_other_case_id"), "case_link", ["other_case_id"], unique=False)
    op.create_table(
        "records_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbound_id", sa.Integer(), nullable=False),
        sa.Column("what", _text(32), nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("scrubbed_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(["outbound_id"], ["outbound_message.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbound_id"),
    )
    op.create_table(
        "records_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", _text(64), nullable=False),
        sa.Column("last_at", _UTC, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    _existing_cases(op.get_bind())


def _existing_cases(conn: sa.Connection) -> None:
    meta = sa.MetaData()
    cases = sa.Table("cases", meta, autoload_with=conn)
    record = sa.Table("case_record", meta, autoload_with=conn)
    now = datetime.now(UTC)
    rows = [
        {"case_id": case_id, "summary": "", "answers": {}, "questionnaire_at": now, "updated_at": now}
        for (case_id,) in conn.execute(sa.select(cases.c.id))
    ]
    if rows:
        conn.execute(record.insert(), rows)


def downgrade() -> None:
    op.drop_table("records_run")
    op.drop_table("records_mail")
    op.drop_index(op.f("ix_case_link_other_case_id"), table_name="case_link")
    op.drop_index(op.f("ix_case_link_case_id"), table_name="case_link")
    op.drop_table("case_link")
    op.drop_index(op.f("ix_ban_case_id"), table_name="ban")
    op.drop_table("ban")
    op.drop_table("case_record")
