"""mediation: when it began, the mediator's report, and each party's vetting of it

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 16:10:00

Jupyter's manual: mediation moves forward "only if common agreement is reached on all terms", and
"the mediator will provide a report (vetted by all parties to the process) to the Committee".
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mailflow.model.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = mailflow.model.types.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("mediation_started_at", _UTC, nullable=True))
        batch.add_column(sa.Column("mediation_report_seq", sa.Integer(), nullable=True))
    with op.batch_alter_table("party") as batch:
        batch.add_column(sa.Column("report_vetted_seq", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("party") as batch:
        batch.drop_column("report_vetted_seq")
    with op.batch_alter_table("cases") as batch:
        batch.drop_column("mediation_report_seq")
        batch.drop_column("mediation_started_at")
