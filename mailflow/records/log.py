"""The Master Incident Log (GovStack): "a summary of each individual incident so that we can refer to
past incidents and identify patterns. The log must always remain private, accessible only to
members of the team". One row per case with GovStack's columns (reporter, about whom, conflict
resolution or conduct enforcement, summary, impact x likelihood = risk, lead, the diary: here the
case's reference), and the state, the dates and the resolution.

By mail (``/log``) a member gets only the cases they may see (not those they are excluded from);
``mailflow log`` shows every case to the operator, as a table, ``--json`` or ``--csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from mailflow.model import CaseState
from mailflow.records.facts import TYPE_NAMES, CaseFacts, grouped_identifiers

REMOVED = "(removed)"


@dataclass(frozen=True, slots=True)
class LogRow:
    ref: str
    received: datetime
    acknowledged: datetime | None
    resolved: datetime | None
    reporter: str
    about: str
    type: str
    source: str
    category: str
    summary: str
    impact: int | None
    likelihood: int | None
    risk: int | None
    stronger_action: bool | None
    lead: str
    secondary: str
    state: str
    resolution: str
    pattern: str
    """Earlier cases about the same reported person ("pattern, not one incident")."""
    links: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


COLUMNS = [
    "ref", "received", "acknowledged", "resolved", "reporter", "about", "type", "source", "category", "summary",
    "impact", "likelihood", "risk", "stronger_action", "lead", "secondary", "state", "resolution", "pattern", "links",
]  # fmt: skip
TABLE_COLUMNS = ["ref", "received", "reporter", "about", "type", "summary", "risk", "lead", "state", "resolution"]


@dataclass(frozen=True, slots=True)
class Filters:
    state: str | None = None
    year: int | None = None
    member: str | None = None
    """Cases this member leads or seconds."""
    visible_to: str | None = None
    """Only the cases this member may see."""


def rows(facts: Sequence[CaseFacts], filters: Filters = Filters()) -> list[LogRow]:
    earlier = earlier_cases(facts)
    chosen = [f for f in facts if _keeps(f, filters)]
    viewer = filters.visible_to
    hidden = {f.id for f in facts if viewer and not f.visible_to(viewer)}
    return [_row(f, earlier.get(f.id, []), viewer, hidden) for f in chosen]


def _keeps(case: CaseFacts, filters: Filters) -> bool:
    if filters.state and case.state.value != filters.state:
        return False
    if filters.year and case.year != filters.year:
        return False
    if filters.member and filters.member not in (case.lead, case.secondary):
        return False
    return not (filters.visible_to and not case.visible_to(filters.visible_to))


def earlier_cases(facts: Sequence[CaseFacts]) -> dict[int, list[CaseFacts]]:
    """case id -> the earlier cases whose reported person goes by one of the same names or address."""
    by_id = {f.id: f for f in facts}
    idents = grouped_identifiers(facts, "reported")
    out: dict[int, list[CaseFacts]] = {}
    for case in facts:
        mine = {i for p in case.of_role("reported") for i in p.identifiers()}
        ids = {other for ident in mine for other in idents.get(ident, ()) if other != case.id}
        found = sorted((by_id[i] for i in ids if by_id[i].created_at <= case.created_at), key=lambda f: f.created_at)
        if found:
            out[case.id] = found
    return out


def _people(people: Iterable[str]) -> str:
    return "; ".join(people)


def _row(case: CaseFacts, earlier: list[CaseFacts], viewer: str | None, hidden: set[int]) -> LogRow:
    gone = case.anonymised_at is not None
    reporters = [p.shown for p in case.of_role("reporter")] or ["(not confirmed)"]
    about = [p.shown for p in case.of_role("reported")]
    seen = [e for e in earlier if viewer is None or e.visible_to(viewer)]
    return LogRow(
        ref=case.ref,
        received=case.created_at,
        acknowledged=case.acknowledged_at,
        resolved=case.resolved_at,
        reporter=REMOVED if gone else _people(reporters),
        about=REMOVED if gone else _people(about),
        type=TYPE_NAMES.get(case.case_type or "", ""),
        source=case.source or "",
        category=case.category or "",
        summary=REMOVED if gone else (case.summary or case.subject),
        impact=case.impact,
        likelihood=case.likelihood,
        risk=case.risk,
        stronger_action=case.stronger_action,
        lead=case.lead or "",
        secondary=case.secondary or "",
        state=case.state.value if not case.merged_into else f"{case.state.value} (merged)",
        resolution=case.resolution or "",
        pattern=", ".join(e.ref for e in seen),
        links=", ".join(f"{link.kind} {link.other_ref}" for link in case.links if link.other_id not in hidden),
    )


def as_csv(log: Sequence[LogRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in log:
        values = row.as_dict()
        writer.writerow([_plain(values[c]) for c in COLUMNS])
    return out.getvalue()


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def as_text(log: Sequence[LogRow]) -> str:
    """The log as a member reads it in a mail: one block per case."""
    if not log:
        return "No case to show."
    blocks = []
    for row in log:
        risk = f"{row.impact} x {row.likelihood} = {row.risk}" if row.risk is not None else "not assessed"
        if row.stronger_action:
            risk += " (likely to recur, medium or high impact: consider stronger action)"
        dates = f"received {_plain(row.received)}"
        dates += f", acknowledged {_plain(row.acknowledged)}" if row.acknowledged else ", not acknowledged"
        dates += f", resolved {_plain(row.resolved)}" if row.resolved else ""
        lines = [
            f"{row.ref} [{row.state}] {row.type or 'type not set'}",
            f"  reporter: {row.reporter}",
            f"  about: {row.about or '(not named)'}",
            f"  summary: {row.summary}",
            f"  risk: {risk}",
            f"  lead: {row.lead or '(none)'}; secondary: {row.secondary or '(none)'}",
            f"  {dates}",
        ]
        if row.resolution:
            lines.append(f"  resolution: {row.resolution}")
        if row.pattern:
            lines.append(f"  pattern: the same person appears in {row.pattern}")
        if row.links:
            lines.append(f"  links: {row.links}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def parse_filters(args: str, member: str) -> Filters:
    """``/log [STATE] [YEAR] [mine]``."""
    state: str | None = None
    year: int | None = None
    mine = False
    for word in args.lower().split():
        if word.isdigit() and len(word) == 4:
            year = int(word)
        elif word in ("mine", "me"):
            mine = True
        elif word.replace("-", "_") in {s.value for s in CaseState}:
            state = word.replace("-", "_")
        else:
            raise ValueError(f"/log takes a state, a year or 'mine' (not {word!r})")
    return Filters(state=state, year=year, member=member if mine else None, visible_to=member)
