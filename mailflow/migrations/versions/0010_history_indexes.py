"""work that does not grow with history: the indexes the periodic checks read through

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 09:00:00

Every deadline check (``mailflow tick``, and ``serve`` every minute) asks which open cases still
await a questionnaire, and which copies of the records mailed to members still hold bytes. Without
an index both read every case and every records mail ever written: after a large import the check
took longer than the minute between two checks. ``cases(state, imported)`` answers the first from
the few open cases; ``records_mail(scrubbed_at)`` the second from the few not yet emptied.

``case_message_id`` had two indexes led by the Message-ID: its unique constraint on
(message_id, case_id) and ``ix_case_message_id_message_id``. The first serves every lookup by
Message-ID; the second only doubled the random writes of each new Message-ID. It is dropped.

On PostgreSQL the tables are analysed after the upgrade, so that the planner reads the new indexes
at once (a large import leaves statistics that say the tables are empty).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cases_state_imported", "cases", ["state", "imported"])
    op.create_index("ix_records_mail_scrubbed_at", "records_mail", ["scrubbed_at"])
    with op.batch_alter_table("case_message_id") as batch_op:
        batch_op.drop_index("ix_case_message_id_message_id")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ANALYZE cases")
        op.execute("ANALYZE records_mail")
        op.execute("ANALYZE case_message_id")


def downgrade() -> None:
    with op.batch_alter_table("case_message_id") as batch_op:
        batch_op.create_index("ix_case_message_id_message_id", ["message_id"], unique=False)
    op.drop_index("ix_records_mail_scrubbed_at", table_name="records_mail")
    op.drop_index("ix_cases_state_imported", table_name="cases")
