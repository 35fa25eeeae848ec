"""committee: members' standing on a case, disclosure permission, risk

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailflow.model.types

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("member", sa.String(length=200), nullable=False),
        sa.Column("assignment", sa.String(length=16), nullable=True),
        sa.Column("excluded", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("since", mailflow.model.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "member"),
    )
    op.create_index(op.f("ix_case_member_case_id"), "case_member", ["case_id"], unique=False)
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("impact", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("likelihood", sa.Integer(), nullable=True))
    with op.batch_alter_table("party") as batch:
        batch.add_column(sa.Column("permission_seq", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("party") as batch:
        batch.drop_column("permission_seq")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("likelihood")
        batch.drop_column("impact")
    op.drop_index(op.f("ix_case_member_case_id"), table_name="case_member")
    op.drop_table("case_member")
