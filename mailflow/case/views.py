"""Read-only views of cases for the command line and reports: plain values, no sessions attached."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Row, func, select
from sqlmodel import Session, col

from mailflow.case import deadlines, decisions, diary
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
    process: dict[str, Any] = field(default_factory=dict)
    """Where the manuals' process stands: urgency, the adopted resolution, mediation, enactment."""
    deadlines: list[dict[str, Any]] = field(default_factory=list)
    """Every date the case keeps: pending, met, or fired (overdue)."""
    decisions: list[list[str]] = field(default_factory=list)
    """Each proposal's tally: who was eligible and why, who voted what."""

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.summary.as_dict(),
            "committee": self.committee,
            "risk": self.risk,
            "parties": self.parties,
            "addresses": self.addresses,
            "conversations": self.conversations,
            "process": self.process,
            "deadlines": self.deadlines,
            "decisions": self.decisions,
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
            "agreed": {
                what: seq
                for what, seq in (
                    ("mediation", p.mediation_agreed_seq),
                    ("apology", p.apology_consent_seq),
                    ("report", p.report_vetted_seq),
                    ("no-contact", p.no_contact_seq),
                )
                if seq is not None
            },
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
    conn = session.connection()
    process = {
        "urgent_since": case.urgent_since,
        "resolution": case.resolution,
        "resolved_at": case.resolved_at,
        "enacted_at": case.enacted_at,
        "right_of_reply_waived_entry": case.right_of_reply_waived_seq,
        "mediation_started_at": case.mediation_started_at,
        "mediation_report_entry": case.mediation_report_seq,
        "imported": case.imported,
    }
    dates = [
        {
            "name": d.name,
            "due_at": d.due_at,
            "state": "fired" if d.fired_at else "met" if d.done_at else "pending",
            "about": d.about,
        }
        for d in deadlines.of_case(conn, case.id)
    ]
    out = frozenset(str(m["member"]) for m in standing if m["excluded"])
    tallies = [decisions.tally(conn, p, out).lines() for p in decisions.of_case(conn, case.id)]
    return CaseDetail(
        process=process,
        deadlines=dates,
        decisions=tallies,
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


def header_lines(detail: CaseDetail) -> list[str]:
    """The case at a glance, as ``cases show`` and a member's ``/show`` give it (no message bodies)."""
    s, p = detail.summary, detail.process
    out = [f"Case {s.ref} ({s.state}) opened {s.created_at:%Y-%m-%d %H:%M} UTC", f"subject: {s.subject}"]
    if s.related_to:
        out.append(f"possibly related to case {s.related_to}")
    if p.get("imported"):
        out.append("imported history: no deadline applies to what happened before the import")
    if p.get("urgent_since"):
        out.append(f"URGENT since {p['urgent_since']:%Y-%m-%d %H:%M} UTC")
    if detail.risk["impact"] or detail.risk["likelihood"]:
        r = detail.risk
        out.append(f"impact {r['impact']} x likelihood {r['likelihood']} = risk {r['risk']}")
    if p.get("resolution"):
        enacted = f", enacted {p['enacted_at']:%Y-%m-%d}" if p.get("enacted_at") else ", not yet enacted"
        out.append(f"resolution adopted: {p['resolution']}{enacted}")
    if p.get("right_of_reply_waived_entry"):
        out.append(f"right of reply not offered: a chair's reason is diary entry {p['right_of_reply_waived_entry']}")
    if p.get("mediation_started_at"):
        report = p.get("mediation_report_entry")
        out.append(
            f"mediation since {p['mediation_started_at']:%Y-%m-%d}; mediator's report: "
            + (f"diary entry {report}" if report else "not yet")
        )
    for party in detail.parties:
        permission = f" (permission: diary entry {party['permission_entry']})" if party["permission_entry"] else ""
        agreed = "".join(f" ({what}: diary entry {seq})" for what, seq in party.get("agreed", {}).items())
        out.append(f"{party['role']}: {party['name'] or ''} <{party['address'] or '?'}>{permission}{agreed}")
    for member in detail.committee:
        standing = f"excluded ({member['reason']})" if member["excluded"] else (member["assignment"] or "member")
        out.append(f"committee: {member['member']}: {standing}")
    for conv in detail.conversations:
        on_it = ", ".join(conv["recipients"]) or ("the committee" if conv["kind"] == "team" else "nobody yet")
        out.append(f"conversation {conv['number']} ({conv['label']}): {conv['address']} -> {on_it}")
        for change in conv["history"]:
            who = ", ".join(change["recipients"]) or "nobody"
            out.append(f"    from {change['at']:%Y-%m-%d %H:%M} (entry #{change['entry']}, {change['by']}): {who}")
    for d in detail.deadlines:
        state = {"fired": "OVERDUE (fired)", "met": "met", "pending": "due"}[d["state"]]
        out.append(f"deadline {d['name']}: {state} {d['due_at']:%Y-%m-%d %H:%M} UTC, {d['about']}")
    for tally in detail.decisions:
        out.extend(tally)
    out.append("diary chain: " + ("intact" if detail.diary_intact else "BROKEN"))
    return out
