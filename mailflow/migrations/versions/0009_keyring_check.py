"""encryption at rest: the keys a database was written with (one sealed check value per key)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10 10:00:00

The sealed columns keep their types (text, bytes, JSON): a sealed value is stored in the column
as it was, and rows written before encryption was turned on are read as they are. So nothing else
changes, and no data is migrated here (``mailflow keys rotate`` seals existing rows).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import mailflow.model.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "keyring_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("sealed", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", mailflow.model.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
    )


def downgrade() -> None:
    op.drop_table("keyring_check")
