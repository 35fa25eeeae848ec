"""The assessment of a case: the Django manual's jurisdiction, impact and risk questions, GovStack's
impact x likelihood, the case's type and source, and the type of violation.

The Django manual: "When reviewing an incident, the working group will evaluate three key aspects:
Jurisdiction, Impact, Risk" (the questions below, in its words) and "Reports involving higher risk
or impact may warrant more serious consequences". GovStack: "If an issue is likely to reccur
without intervention AND the impact is medium or high, we know that we must use stronger actions"
(:attr:`mailflow.records.facts.CaseFacts.stronger_action`).

The answers are a structured record per case (``case_record.answers``), given by mail: one at a
time (``/assess KEY ANSWER``), or all at once as ``KEY: ANSWER`` lines under a bare ``/assess``,
which is how the lead answers the questionnaire mailed to them once they are assigned
(:func:`questionnaire`). Each command is a diary entry naming its author.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from mailflow.model import core as t
from mailflow.records import store
from mailflow.records.facts import SOURCES, TYPE_NAMES, TYPES, CaseFacts

YES_NO = ("yes", "no", "unsure")


@dataclass(frozen=True, slots=True)
class Question:
    key: str
    aspect: str
    text: str
    free: bool = False
    """A free answer (words), not yes/no/unsure: personal data, removed by retention."""


QUESTIONS: tuple[Question, ...] = (
    Question("listed", "jurisdiction", "Is this behavior explicitly listed in our Code of Conduct as inappropriate?"),
    Question("in_scope", "jurisdiction", "Did this occur within a space covered by our Code of Conduct's scope?"),
    Question(
        "outside_but_harmful",
        "jurisdiction",
        "If the incident occurred outside our spaces, may it negatively impact a community member's safety or"
        " wellbeing (so that it should be considered in scope)?",
    ),
    Question("public", "impact", "Did this incident occur publicly (yes) or privately (no)?"),
    Question("marginalized", "impact", "Does this behavior negatively impact people from marginalized groups?"),
    Question("harm", "impact", "How is the harmed party being negatively impacted?", free=True),
    Question("disengage", "impact", "Are community members likely to disengage if no action is taken?"),
    Question("leader", "impact", "Does this incident involve a community leader whose behavior sets standards?"),
    Question("sexual_or_threat", "risk", "Does this incident involve sexual harassment or threats to physical safety?"),
    Question("severe", "risk", "Will this incident severely impact someone's mental health or physical safety?"),
    Question("repeat", "risk", "Is there a risk of repeated behavior?"),
    Question("understands", "risk", "Does the reported person understand why their behavior was inappropriate?"),
    Question("pattern", "risk", "Is there an established pattern from past reports?"),
)
BY_KEY = {q.key: q for q in QUESTIONS}
FACTS = ("type", "source", "category", "impact", "likelihood", "summary")
"""Keys beside the questions: the case's type and source, the violation, GovStack's scales, the summary."""
ALIASES = {
    "scope": "in_scope",
    "outside": "outside_but_harmful",
    "sexual": "sexual_or_threat",
    "threat": "sexual_or_threat",
}

KEYS = frozenset({*BY_KEY, *FACTS})


class AssessmentError(Exception):
    pass


def normalise_key(key: str) -> str:
    key = key.strip().lower().replace("-", "_")
    return ALIASES.get(key, key)


def _yes_no(value: str) -> str:
    word = value.strip().lower().rstrip(".")
    word = {"y": "yes", "n": "no", "?": "unsure", "unknown": "unsure", "true": "yes", "false": "no"}.get(word, word)
    if word not in YES_NO:
        raise AssessmentError(f"answer yes, no or unsure (not {value.strip()!r})")
    return word


def answer(conn: Connection, case_id: int, key: str, value: str, *, categories: list[str], now: datetime) -> str:
    """Record one answer; what was recorded, in words."""
    key = normalise_key(key)
    value = value.strip()
    if not value:
        raise AssessmentError(f"give an answer for {key}")
    if key in BY_KEY:
        question = BY_KEY[key]
        stored = value[:1000] if question.free else _yes_no(value)
        answers = store.ensure(conn, case_id, now)
        answers[key] = stored
        store.update(conn, case_id, now, answers=answers)
        return f"{key}: {stored}"
    if key == "type":
        word = value.lower().split()[0]
        word = {"conflict-resolution": "conflict", "conduct": "enforcement"}.get(word, word)
        if word not in TYPES:
            raise AssessmentError("the type is conflict (conflict resolution) or enforcement (conduct enforcement)")
        store.update(conn, case_id, now, case_type=word)
        return f"type: {TYPE_NAMES[word]}"
    if key == "source":
        word = value.lower().replace(" ", "-")
        if word not in SOURCES:
            raise AssessmentError(f"the source is one of: {', '.join(SOURCES)}")
        store.update(conn, case_id, now, source=word)
        return f"source: {word}"
    if key == "category":
        word = value.lower().split()[0]
        if word not in categories:
            raise AssessmentError(f"the category is one of: {', '.join(categories)}")
        store.update(conn, case_id, now, category=word)
        return f"category: {word}"
    if key in ("impact", "likelihood"):
        if not value.isdigit() or not 1 <= int(value) <= 5:
            raise AssessmentError(f"{key} is a number from 1 to 5")
        conn.execute(t.cases.update().where(t.cases.c.id == case_id).values({key: int(value)}))
        return f"{key}: {int(value)}"
    if key == "summary":
        store.update(conn, case_id, now, summary=value[:300])
        return "summary recorded"
    known = ", ".join([*BY_KEY, *FACTS])
    raise AssessmentError(f"unknown question {key!r} (one of: {known})")


def jurisdiction(answers: Mapping[str, Any]) -> str:
    """ "yes", "no" or "open": within the code's scope and listed, by the answers so far."""
    listed, in_scope, outside = (answers.get(k) for k in ("listed", "in_scope", "outside_but_harmful"))
    if listed == "no" or (in_scope == "no" and outside == "no"):
        return "no"
    if listed == "yes" and (in_scope == "yes" or outside == "yes"):
        return "yes"
    return "open"


def findings(case: CaseFacts) -> list[str]:
    """What the answers and the scales say, in the manuals' words."""
    a = case.answers
    out = [f"jurisdiction: {jurisdiction(a)}"]
    higher_risk = [BY_KEY[k].text for k in ("sexual_or_threat", "severe") if a.get(k) == "yes"]
    if higher_risk:
        out.append("higher risk (Django: may warrant more serious consequences): " + " ".join(higher_risk))
    if a.get("repeat") == "yes" and a.get("understands") == "no":
        out.append("risk of repetition, and the reported person does not understand why")
    if case.risk is not None:
        out.append(f"impact {case.impact} x likelihood {case.likelihood} = risk {case.risk}")
    if case.stronger_action:
        out.append("GovStack: likely to recur and medium or high impact: consider stronger action")
    if any(link.kind == "retaliation-for" for link in case.links):
        out.append("retaliation for another case: the Django guidelines weigh retaliation far above the original")
    return out


def unanswered(case: CaseFacts) -> list[str]:
    missing = [q.key for q in QUESTIONS if q.key not in case.answers]
    missing += [k for k, v in (("type", case.case_type), ("source", case.source), ("category", case.category)) if not v]
    missing += [k for k in ("impact", "likelihood") if getattr(case, k) is None]
    return missing


def view(case: CaseFacts) -> dict[str, Any]:
    return {
        "ref": case.ref,
        "type": case.case_type,
        "source": case.source,
        "category": case.category,
        "summary": case.summary,
        "impact": case.impact,
        "likelihood": case.likelihood,
        "risk": case.risk,
        "stronger_action": case.stronger_action,
        "questions": [
            {"key": q.key, "aspect": q.aspect, "question": q.text, "answer": case.answers.get(q.key)} for q in QUESTIONS
        ],
        "findings": findings(case),
        "unanswered": unanswered(case),
    }


def as_text(case: CaseFacts) -> str:
    lines = [f"Assessment of case {case.ref}"]
    lines.append(f"type: {TYPE_NAMES.get(case.case_type or '', '(not set)')}; source: {case.source or '(not set)'};"
                 f" category: {case.category or '(not set)'}")  # fmt: skip
    aspect = ""
    for q in QUESTIONS:
        if q.aspect != aspect:
            aspect = q.aspect
            lines.append(f"\n{aspect.capitalize()}")
        lines.append(f"  {q.key}: {case.answers.get(q.key, '(not answered)')}  - {q.text}")
    lines.append("")
    lines += findings(case)
    return "\n".join(lines)


def questionnaire(case: CaseFacts, categories: list[str]) -> str:
    """The questionnaire the lead gets: the questions, and the block to send back answered."""
    lines = [
        f"You lead case {case.ref}. Please assess it with the committee (the Django manual's three aspects,",
        "and GovStack's impact x likelihood of recurrence without intervention, each 1 to 5).",
        "",
        "Reply with the block below at the top of your mail, answers filled in (yes, no or unsure;",
        "words for 'harm' and 'summary'). Lines you leave empty stay unanswered; you can answer one",
        "later with '/assess KEY ANSWER'. Your answers stay inside the committee.",
        "",
    ]
    aspect = ""
    for q in QUESTIONS:
        if q.aspect != aspect:
            aspect = q.aspect
            lines.append(f"{aspect.capitalize()}:")
        lines.append(f"  {q.key}: {q.text}")
    lines += [
        "Facts:",
        "  type: conflict (conflict resolution) or enforcement (conduct enforcement)",
        f"  source: {', '.join(SOURCES)}",
        f"  category: {', '.join(categories)}",
        "  impact, likelihood: 1 (low) to 5 (high)",
        "  summary: one line for the Master Incident Log (observed facts)",
        "",
        "/assess",
        *(f"{q.key}: " for q in QUESTIONS),
        *(f"{k}: " for k in FACTS),
    ]
    return "\n".join(lines)
