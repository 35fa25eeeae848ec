"""Read-only views of cases for the command line and reports: plain values, no sessions attached."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, func, select
from sqlmodel import Session, col

from mailflow.case import diary
from mailflow.errors import NotFound
from mailflow.model import Case, CaseMember, Conversation, DiaryEntry, DiaryKind, Party
from mailflow.parse.addresses import ConductAddress


@dataclass(frozen=True, slots=True)
class CaseSummary:
    ref: str
    state: str
    created_at: datetime
    updated_at: datetime
    subject: str
    entries: int
    related_to: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DiaryLine:
    seq: int
    kind: str
    at: datetime
    actor: str | None
    from_addr: str | None
    to: list[str]
    subject: str | None
    message_id: str | None
    new_text: str | None
    detail: dict[str, Any]
    unverified: bool = False


@dataclass(frozen=True, slots=True)
class CaseDetail:
    summary: CaseSummary
    parties: list[dict[str, Any]]
    addresses: dict[str, str]
    diary_intact: bool
    diary: list[DiaryLine]
    committee: list[dict[str, Any]]
    """Each member's standing on the case: assignment, or excluded and why."""
    risk: dict[str, int | None]
    conversations: list[dict[str, Any]]
    """Each conversation: its address, who is on it now, and who was on it when (from the diary)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary.as_dict(),
            "committee": self.committee,
            "risk": self.risk,
            "parties": self.parties,
            "addresses": self.addresses,
            "conversations": self.conversations,
            "diary_intact": self.diary_intact,
            "diary": [asdict(line) for line in self.diary],
        }


def _refs(session: Session) -> dict[int, str]:
    rows: Sequence[Row[int, str]] = session.execute(select(col(Case.id), col(Case.ref))).all()
    return dict(rows)


def list_cases(session: Session, limit: int = 500) -> list[CaseSummary]:
    per_case: Sequence[Row[int, int]] = session.execute(
        select(col(DiaryEntry.case_id), func.count()).group_by(col(DiaryEntry.case_id))
    ).all()
    counts = dict(per_case)
    refs = _refs(session)
    rows = session.scalars(select(Case).order_by(col(Case.id).desc()).limit(limit))
    return [_summary(c, counts.get(cast(int, c.id), 0), refs) for c in rows]  # loaded: id set


def _summary(case: Case, entries: int, refs: dict[int, str]) -> CaseSummary:
    return CaseSummary(
        ref=case.ref,
        state=case.state.value,
        created_at=case.created_at,
        updated_at=case.updated_at,
        subject=case.subject,
        entries=entries,
        related_to=refs.get(case.related_case_id) if case.related_case_id else None,
    )


def show_case(session: Session, ref: str, conduct: ConductAddress) -> CaseDetail:
    case = session.scalar(select(Case).where(col(Case.ref) == ref))
    if case is None or case.id is None:
        raise NotFound(f"no case {ref}")
    lines = diary.entries(session, case.id)
    parties = [
        {
            "role": p.role.value,
            "name": p.name,
            "address": p.address,
            "aliases": p.aliases,
            "permission_entry": p.permission_seq,
        }
        for p in session.scalars(select(Party).where(col(Party.case_id) == case.id).order_by(col(Party.id)))
    ]
    convs = list(
        session.scalars(
            select(Conversation).where(col(Conversation.case_id) == case.id).order_by(col(Conversation.number))
        )
    )
    addresses = {c.label or f"conversation {c.number}": conduct.case_address(case.ref, c.token) for c in convs}
    conversations = [
        {
            "number": c.number,
            "kind": c.kind.value,
            "label": c.label,
            "address": conduct.case_address(case.ref, c.token),
            "recipients": [r.get("address") for r in c.recipients],
            "history": [
                {"entry": e.seq, "at": e.at, "by": e.actor, "recipients": e.to_addrs}
                for e in lines
                if e.kind is DiaryKind.RECIPIENTS and e.detail.get("conversation") == c.number
            ],
        }
        for c in convs
    ]
    standing = [
        {"member": m.member, "assignment": m.assignment, "excluded": m.excluded, "reason": m.reason, "by": m.by}
        for m in session.scalars(
            select(CaseMember).where(col(CaseMember.case_id) == case.id).order_by(col(CaseMember.id))
        )
    ]
    risk = case.impact * case.likelihood if case.impact and case.likelihood else None
    return CaseDetail(
        committee=standing,
        risk={"impact": case.impact, "likelihood": case.likelihood, "risk": risk},
        summary=_summary(case, len(lines), _refs(session)),
        parties=parties,
        addresses=addresses,
        conversations=conversations,
        diary_intact=diary.verify(session, case.id) is None,
        diary=[
            DiaryLine(
                e.seq,
                e.kind.value,
                e.at,
                e.actor,
                e.from_addr,
                e.to_addrs,
                e.subject,
                e.message_id,
                e.new_text,
                e.detail,
                e.unverified,
            )
            for e in lines
        ],
    )
