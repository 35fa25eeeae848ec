"""The records' own tables (migration 0007): a case's record beside its diary, the ban register,
links between cases, the copies of records mailed to members, and when periodic work last ran."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from mailflow.clock import utcnow
from mailflow.crypt.sealed import SealedJSON, SealedText
from mailflow.model.types import UTCDateTime


def _now() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


def _when() -> Any:
    return Field(default=None, sa_type=UTCDateTime)


def _sealed(table: str, column: str, default: str | None) -> Any:
    """Text encrypted at rest when a key is configured (mailflow.crypt)."""
    return Field(default=default, sa_type=SealedText(table, column))


class CaseRecord(SQLModel, table=True):
    """What the Master Incident Log and the assessment keep of a case, beside its diary."""

    __tablename__ = "case_record"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", unique=True)
    case_type: str | None = Field(default=None, max_length=16)
    """GovStack: "conflict" (conflict resolution) or "enforcement" (conduct enforcement)."""
    source: str | None = Field(default=None, max_length=32)
    """Who brought it: reporter, event-staff, moderators, escalated."""
    category: str | None = Field(default=None, max_length=64)
    """The type of violation ([records] categories), counted by the transparency report."""
    summary: str = _sealed("case_record", "summary", "")
    """The committee's one-line summary for the log (personal data: removed by retention)."""
    answers: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column(SealedJSON("case_record", "answers"), nullable=False)
    )
    """The Django manual's jurisdiction, impact and risk questions: key -> answer."""
    questionnaire_at: datetime | None = _when()
    """When the lead was sent the assessment questionnaire."""
    merged_into: int | None = Field(default=None, foreign_key="cases.id")
    """Another report of the same incident: this case is counted once, as that one."""
    resolved_on: datetime | None = _when()
    """When the case was resolved or closed (kept for the reports when retention removes the diary's words)."""
    anonymised_at: datetime | None = _when()
    updated_at: datetime = _now()


class Ban(SQLModel, table=True):
    """The ban register (Jupyter: "maintain records of all such bans so that they may be reviewed")."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    party_id: int | None = Field(default=None, foreign_key="party.id")
    person: str | None = _sealed("ban", "person", None)
    """Who is banned, as the committee named them (removed by retention once the ban is over)."""
    address: str | None = _sealed("ban", "address", None)
    kind: str = Field(max_length=16)
    """ban, suspension, hiatus, cooling-off."""
    scope: str = _sealed("ban", "scope", "")
    """Where it applies: "all spaces", "the mailing lists and the chat", an event ..."""
    starts_on: datetime = Field(sa_type=UTCDateTime)
    ends_on: datetime | None = _when()
    """None: permanent."""
    review_on: datetime | None = _when()
    created_at: datetime = _now()
    created_by: str = Field(max_length=200)
    lifted_at: datetime | None = _when()
    lifted_by: str | None = Field(default=None, max_length=200)
    lift_reason: str | None = _sealed("ban", "lift_reason", None)


class CaseLink(SQLModel, table=True):
    """Two cases that belong together: a retaliation for the other, the same incident, or merged into it."""

    __tablename__ = "case_link"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="cases.id", index=True)
    other_case_id: int = Field(foreign_key="cases.id", index=True)
    kind: str = Field(max_length=16)
    """retaliation (case_id retaliates for other_case_id), same (one incident), merged (into other)."""
    created_at: datetime = _now()
    created_by: str = Field(max_length=200)

    __table_args__ = (UniqueConstraint("case_id", "other_case_id", "kind"),)


class RecordsMail(SQLModel, table=True):
    """A mail to a member that carries records of several cases (the log, patterns): not a case's
    mail, so it has no diary entry; its bytes are emptied once it has left."""

    __tablename__ = "records_mail"

    id: int | None = Field(default=None, primary_key=True)
    outbound_id: int = Field(foreign_key="outbound_message.id", unique=True)
    what: str = Field(max_length=32)
    created_at: datetime = _now()
    scrubbed_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class RecordsRun(SQLModel, table=True):
    """When a periodic task of the records last ran (retention, the heads mail)."""

    __tablename__ = "records_run"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(unique=True, max_length=64)
    last_at: datetime = Field(sa_type=UTCDateTime)
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


case_record: Table = CaseRecord.__table__  # type: ignore[attr-defined]
ban: Table = Ban.__table__  # type: ignore[attr-defined]
case_link: Table = CaseLink.__table__  # type: ignore[attr-defined]
records_mail: Table = RecordsMail.__table__  # type: ignore[attr-defined]
records_run: Table = RecordsRun.__table__  # type: ignore[attr-defined]
