"""confidentiality: held mail a chair releases, alerts, VERP bounce tokens, unverified diary entries

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import mailflow.model.types

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("diary_entry") as batch:
        batch.add_column(sa.Column("unverified", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("outbound_message") as batch:
        batch.add_column(sa.Column("bounce_token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch.create_unique_constraint("uq_outbound_message_bounce_token", ["bounce_token"])
    op.create_table(
        "held_mail",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("outbound_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("summaries", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column(
            "state",
            sa.Enum("held", "released", "superseded", name="heldstate", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("created_at", mailflow.model.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", mailflow.model.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["outbound_id"], ["outbound_message.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversation.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    op.create_index(op.f("ix_held_mail_case_id"), "held_mail", ["case_id"], unique=False)
    op.create_index(op.f("ix_held_mail_state"), "held_mail", ["state"], unique=False)
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "unplaced", "quarantined", "held", "delivery_failed", "bounced",
                name="alertkind", native_enum=False, length=32,
            ),
            nullable=False,
        ),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("outbound_id", sa.Integer(), nullable=True),
        sa.Column("summary", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("created_at", mailflow.model.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notified_at", mailflow.model.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.ForeignKeyConstraint(["inbound_id"], ["inbound_message.id"]),
        sa.ForeignKeyConstraint(["outbound_id"], ["outbound_message.id"]),
        sa.PrimaryKeyConstraint("id"),
    )  # fmt: skip
    op.create_index(op.f("ix_alert_kind"), "alert", ["kind"], unique=False)
    op.create_index(op.f("ix_alert_notified_at"), "alert", ["notified_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_notified_at"), table_name="alert")
    op.drop_index(op.f("ix_alert_kind"), table_name="alert")
    op.drop_table("alert")
    op.drop_index(op.f("ix_held_mail_state"), table_name="held_mail")
    op.drop_index(op.f("ix_held_mail_case_id"), table_name="held_mail")
    op.drop_table("held_mail")
    with op.batch_alter_table("outbound_message") as batch:
        batch.drop_constraint("uq_outbound_message_bounce_token", type_="unique")
        batch.drop_column("bounce_token")
    with op.batch_alter_table("diary_entry") as batch:
        batch.drop_column("unverified")
