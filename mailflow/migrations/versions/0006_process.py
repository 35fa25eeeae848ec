"""process: deadlines as dates of their own, proposals and votes, the facts of a case as columns,
the diary covering each message's SHA-256

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 17:00:00

``deadline_fired`` becomes ``deadline``: each fired deadline keeps its date; each open case that
was not imported gets its acknowledgement and status-update deadlines, and each /unilateral,
/mediation or /deadlock marked in its diary its own (with the manuals' default periods).
"""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import mailflow.model.types

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC = mailflow.model.types.UTCDateTime(timezone=True)
_OPEN = ("new", "open", "investigating", "resolution_proposed")
_MARKERS = {"unilateral": timedelta(hours=24), "mediation": timedelta(days=14), "deadlock": timedelta(days=7)}


def upgrade() -> None:
    with op.batch_alter_table("diary_entry") as batch:
        batch.add_column(sa.Column("content_sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    with op.batch_alter_table("cases") as batch:
        batch.add_column(sa.Column("imported", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("urgent_since", _UTC, nullable=True))
        batch.add_column(sa.Column("right_of_reply_waived_seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("resolution", sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch.add_column(sa.Column("resolved_at", _UTC, nullable=True))
        batch.add_column(sa.Column("enacted_at", _UTC, nullable=True))
    with op.batch_alter_table("notice_draft") as batch:
        batch.add_column(sa.Column("group_id", sa.Integer(), nullable=True))
        batch.create_index("ix_notice_draft_group_id", ["group_id"], unique=False)
    with op.batch_alter_table("party") as batch:
        batch.add_column(sa.Column("mediation_agreed_seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("apology_consent_seq", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("no_contact_seq", sa.Integer(), nullable=True))
    op.create_table(
        "deadline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("due_at", _UTC, nullable=False),
        sa.Column("created_at", _UTC, nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("about", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("done_at", _UTC, nullable=True),
        sa.Column("fired_at", _UTC, nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "name"),
    )
    op.create_index("ix_deadline_due", "deadline", ["fired_at", "done_at", "due_at"], unique=False)
    op.create_table(
        "proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("resolution", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("proposed_by", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("proposed_at", _UTC, nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("decided_at", _UTC, nullable=True),
        sa.Column("eligible", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_proposal_case_id"), "proposal", ["case_id"], unique=False)
    op.create_table(
        "vote",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("member", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("choice", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("why", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["proposal_id"], ["proposal.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("proposal_id", "member"),
    )
    op.create_index(op.f("ix_vote_proposal_id"), "vote", ["proposal_id"], unique=False)
    _convert_deadlines(op.get_bind())
    op.drop_table("deadline_fired")


def _convert_deadlines(conn: sa.Connection) -> None:
    meta = sa.MetaData()
    fired = sa.Table("deadline_fired", meta, autoload_with=conn)
    cases = sa.Table("cases", meta, autoload_with=conn)
    inbound = sa.Table("inbound_message", meta, autoload_with=conn)
    diary = sa.Table("diary_entry", meta, autoload_with=conn)
    outbound = sa.Table("outbound_message", meta, autoload_with=conn)
    deadline = sa.Table("deadline", meta, autoload_with=conn)
    now = datetime.now(UTC)
    rows: dict[tuple[int, str], dict[str, object]] = {}

    def add(case_id: Any, name: str, due: datetime, fired_at: datetime | None = None, about: str = "") -> None:
        rows.setdefault(
            (case_id, name),
            {"case_id": case_id, "name": name, "due_at": due, "created_at": now, "created_by": "mailflow",
             "about": about, "done_at": None, "fired_at": fired_at},
        )  # fmt: skip

    renamed = {"acknowledgement-overdue": "acknowledgement", "status-update": "status-update-1"}
    for case_id, name, fired_at in conn.execute(sa.select(fired.c.case_id, fired.c.name, fired.c.fired_at)):
        add(case_id, renamed.get(str(name), str(name)), _aware(fired_at), _aware(fired_at))
    live = sa.select(inbound.c.id).where(inbound.c.case_id == cases.c.id, inbound.c.notify.is_(True)).exists()
    conn.execute(cases.update().where(~live).values(imported=True))
    acknowledged = {
        case_id
        for (case_id,) in conn.execute(
            sa.select(outbound.c.case_id).where(outbound.c.kind == "acknowledgement", outbound.c.state == "sent")
        )
    }
    open_cases = sa.select(cases.c.id, cases.c.created_at).where(cases.c.state.in_(_OPEN), live)
    for case_id, created_at in conn.execute(open_cases):
        created = _aware(created_at)
        if case_id not in acknowledged:
            add(case_id, "acknowledgement", created + timedelta(hours=24), about="the acknowledgement")
        add(case_id, "status-update-1", created + timedelta(days=7), about="a status update or a resolution")
    notes = sa.select(diary.c.case_id, diary.c.seq, diary.c.at, diary.c.actor, diary.c.detail).where(
        diary.c.kind == "note"
    )
    for case_id, seq, at, actor, detail in conn.execute(notes):
        marker = (detail or {}).get("deadline_marker") if isinstance(detail, dict) else None
        if marker in _MARKERS:
            add(case_id, f"{marker}-{seq}", _aware(at) + _MARKERS[marker], about=f"{marker} marked by {actor}")
    if rows:
        conn.execute(deadline.insert(), list(rows.values()))


def _aware(value: Any) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def downgrade() -> None:
    op.create_table(
        "deadline_fired",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("fired_at", _UTC, nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "name"),
    )
    with op.batch_alter_table("notice_draft") as batch:
        batch.drop_index("ix_notice_draft_group_id")
    op.drop_index(op.f("ix_vote_proposal_id"), table_name="vote")
    op.drop_table("vote")
    op.drop_index(op.f("ix_proposal_case_id"), table_name="proposal")
    op.drop_table("proposal")
    op.drop_index("ix_deadline_due", table_name="deadline")
    op.drop_table("deadline")
    for table, columns in (
        ("party", ("no_contact_seq", "apology_consent_seq", "mediation_agreed_seq")),
        ("cases", ("enacted_at", "resolved_at", "resolution", "right_of_reply_waived_seq", "urgent_since", "imported")),
        ("diary_entry", ("content_sha256",)),
        ("notice_draft", ("group_id",)),
    ):
        with op.batch_alter_table(table) as batch:
            for column in columns:
                batch.drop_column(column)
