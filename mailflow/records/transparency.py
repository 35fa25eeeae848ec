"""The yearly transparency report (Django: "annual transparency reports including anonymized
statistics such as: Number of reports received, Types of violations reported, General outcomes
(warnings, suspensions, bans), Any trends or patterns observed ... prepared in a way that protects
the confidentiality of all involved parties").

Counts only, never a reference, a name, an address, a subject or a summary. A report of the same
incident merged into another counts once. No count below ``[records] suppress_below`` is shown (it
reads "fewer than K"), and no median of fewer cases; where exactly one count of a breakdown would
be hidden, the next smallest is hidden too, so that the hidden one cannot be worked out from the
total. The chart (SVG, drawn with pygal) shows the reports per year, the same suppression applied.
Written as Markdown and as HTML with the chart inline.
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from mailflow.model import CaseState
from mailflow.records.facts import TYPE_NAMES, CaseFacts

OUTCOME_NAMES = {
    "no-action": "no further action",
    "mediation": "mediation",
    "warning": "warning",
    "reminder": "public reminder",
    "reprimand": "reprimand",
    "private-reprimand": "private reprimand",
    "public-reprimand": "public reprimand",
    "apology": "apology requested",
    "hiatus": "hiatus or cooling-off period",
    "suspension": "suspension",
    "ban": "ban",
}
YEARS_BACK = 4


@dataclass(frozen=True, slots=True)
class Cell:
    label: str
    count: int
    shown: str


@dataclass(frozen=True, slots=True)
class Report:
    year: int
    committee: str
    threshold: int
    received: str
    breakdowns: list[tuple[str, list[Cell]]]
    medians: list[tuple[str, str]]
    trend: list[Cell]
    trend_words: str
    chart_svg: str


def suppress(counts: Sequence[tuple[str, int]], threshold: int, *, total_known: bool = True) -> list[Cell]:
    """Hide every count from 1 to threshold-1, and one more when exactly one would be hidden."""
    hidden = {label for label, n in counts if 0 < n < threshold}
    if total_known and len(hidden) == 1:
        rest = sorted(((n, label) for label, n in counts if n > 0 and label not in hidden))
        if rest:
            hidden.add(rest[0][1])
    return [Cell(label, n, f"fewer than {threshold}" if label in hidden else str(n)) for label, n in counts]


def _count(value: int, threshold: int) -> str:
    return f"fewer than {threshold}" if 0 < value < threshold else str(value)


def _median(values: list[float], threshold: int, unit: str) -> str:
    if len(values) < threshold:
        return f"not shown (fewer than {threshold} cases)"
    return f"{statistics.median(values):.1f} {unit}"


def build(facts: Sequence[CaseFacts], year: int, *, committee: str, threshold: int) -> Report:
    counted = [f for f in facts if f.merged_into is None]
    this = [f for f in counted if f.year == year]
    n = len(this)
    types = [(TYPE_NAMES[k], sum(1 for f in this if f.case_type == k)) for k in TYPE_NAMES]
    types.append(("not yet assessed", sum(1 for f in this if not f.case_type)))
    categories = Counter(f.category or "not yet assessed" for f in this)
    sources = Counter((f.source or "not recorded").replace("-", " ") for f in this)
    outcomes = Counter(
        OUTCOME_NAMES.get(f.resolution, f.resolution.replace("-", " ")) if f.resolution else _open(f) for f in this
    )
    breakdowns = [
        ("Types of case", suppress([(k, v) for k, v in types if v], threshold)),
        ("Types of violation reported", suppress(sorted(categories.items()), threshold)),
        ("How reports reached us", suppress(sorted(sources.items()), threshold)),
        ("General outcomes", suppress(sorted(outcomes.items()), threshold)),
    ]
    if n < threshold:  # too few to break down at all
        breakdowns = [(title, [Cell(c.label, c.count, f"fewer than {threshold}") for c in cells if c.count])
                      for title, cells in breakdowns]  # fmt: skip
    hours = [_hours(f.created_at, f.acknowledged_at) for f in this if f.acknowledged_at and not f.imported]
    days = [_hours(f.created_at, f.resolved_at) / 24 for f in this if f.resolved_at]
    medians = [
        ("Median time to acknowledgement", _median(hours, threshold, "hours")),
        ("Median time to resolution", _median(days, threshold, "days")),
    ]
    years = list(range(year - YEARS_BACK, year + 1))
    per_year = [(str(y), sum(1 for f in counted if f.year == y)) for y in years]
    trend = [Cell(label, v, _count(v, threshold)) for label, v in per_year]
    return Report(
        year=year,
        committee=committee,
        threshold=threshold,
        received=_count(n, threshold),
        breakdowns=breakdowns,
        medians=medians,
        trend=trend,
        trend_words=_trend_words(per_year, threshold),
        chart_svg=chart(trend, threshold),
    )


def _open(case: CaseFacts) -> str:
    return (
        "still open at the time of writing"
        if case.state not in (CaseState.RESOLVED, CaseState.CLOSED)
        else ("closed without a recorded outcome")
    )


def _hours(start: datetime, end: datetime | None) -> float:
    return max((end - start) if end else timedelta(0), timedelta(0)).total_seconds() / 3600


def _trend_words(per_year: list[tuple[str, int]], threshold: int) -> str:
    (last_year, last), (prev_year, prev) = per_year[-1], per_year[-2]
    if last < threshold or prev < threshold:
        return f"Too few reports in {prev_year} or {last_year} to compare them without identifying anyone."
    change = (last - prev) / prev * 100 if prev else 0.0
    if abs(change) < 10:
        return f"About as many reports as in {prev_year}."
    return f"{abs(change):.0f}% {'more' if change > 0 else 'fewer'} reports than in {prev_year}."


def _pygal() -> Any:
    """pygal, imported on first use. On import it appends a finder of its own to ``sys.meta_path``
    (for its map plugins, which we do not use) that lacks ``find_spec``: every later import of a
    module that is not installed then warns. We take that finder out again."""
    import pygal

    sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "pygal"]
    return pygal


def chart(trend: Sequence[Cell], threshold: int) -> str:
    pygal = _pygal()
    from pygal.style import Style

    style = Style(background="white", plot_background="white", colors=("#3b6ea5",), font_family="sans-serif")
    bars = pygal.Bar(
        style=style, show_legend=False, width=640, height=320, js=[], disable_xml_declaration=True,
        title="Reports received per year", y_title="reports", print_values=False, include_x_axis=True,
    )  # fmt: skip
    bars.x_labels = [c.label for c in trend]
    bars.add("reports", [None if 0 < c.count < threshold else c.count for c in trend])
    svg: str = bars.render(is_unicode=True)
    return svg


_MARKDOWN = """# {{ r.committee }}: transparency report {{ r.year }}

We never discuss individual incidents publicly. These are anonymised figures for {{ r.year }}, to show
that the Code of Conduct is enforced, and how. No figure below {{ r.threshold }} is shown (it reads
"fewer than {{ r.threshold }}"), so that no person can be recognised from it.

**Reports received:** {{ r.received }}

{% for title, cells in r.breakdowns %}## {{ title }}

{% for c in cells %}- {{ c.label }}: {{ c.shown }}
{% else %}- none
{% endfor %}
{% endfor %}## Timeliness

{% for label, value in r.medians %}- {{ label }}: {{ value }}
{% endfor %}
## Trends

| year | reports |
| --- | --- |
{% for c in r.trend %}| {{ c.label }} | {{ c.shown }} |
{% endfor %}
{{ r.trend_words }}

![Reports received per year](transparency-{{ r.year }}.svg)
"""

_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ r.committee }}: transparency report {{ r.year }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:48em}td,th{padding:.2em 1em;text-align:left}</style>
</head><body>
<h1>{{ r.committee }}: transparency report {{ r.year }}</h1>
<p>We never discuss individual incidents publicly. These are anonymised figures for {{ r.year }}, to show that the
Code of Conduct is enforced, and how. No figure below {{ r.threshold }} is shown (it reads "fewer than
{{ r.threshold }}"), so that no person can be recognised from it.</p>
<p><strong>Reports received:</strong> {{ r.received }}</p>
{% for title, cells in r.breakdowns %}<h2>{{ title }}</h2><ul>
{% for c in cells %}<li>{{ c.label }}: {{ c.shown }}</li>{% else %}<li>none</li>{% endfor %}</ul>
{% endfor %}<h2>Timeliness</h2><ul>{% for label, value in r.medians %}<li>{{ label }}: {{ value }}</li>{% endfor %}</ul>
<h2>Trends</h2><table><tr><th>year</th><th>reports</th></tr>
{% for c in r.trend %}<tr><td>{{ c.label }}</td><td>{{ c.shown }}</td></tr>{% endfor %}</table>
<p>{{ r.trend_words }}</p>
<figure>{{ svg }}</figure>
</body></html>
"""


def write(report: Report, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = f"transparency-{report.year}"
    markdown = jinja2.Environment(autoescape=False, keep_trailing_newline=True).from_string(_MARKDOWN)
    html = jinja2.Environment(autoescape=True).from_string(_HTML)
    paths = [out / f"{stem}.md", out / f"{stem}.html", out / f"{stem}.svg"]
    paths[0].write_text(markdown.render(r=report), encoding="utf-8")
    paths[1].write_text(html.render(r=report, svg=Markup(report.chart_svg)), encoding="utf-8")
    paths[2].write_text(report.chart_svg, encoding="utf-8")
    return paths
