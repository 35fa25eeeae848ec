"""The renderer: StrictUndefined, HTML autoescaped, header values without line breaks, dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from mailflow.notices import Notice, notice, notices, render_notice
from mailflow.outbound.render import HeaderError, Renderer, TemplateError, format_date, header_value
from tests.notices.conftest import SHIPPED

SCRIPT = "<script>alert('x')</script>"
WITH_HTML = [n for n in notices() if (SHIPPED / n.name / "body.html.j2").exists()]


def _poisoned(value: object) -> object:
    if isinstance(value, str):
        return value + SCRIPT
    if isinstance(value, tuple | list):
        return [_poisoned(v) for v in value]
    if isinstance(value, dict):
        return {k: _poisoned(v) for k, v in value.items()}
    return value


def test_at_least_one_notice_has_an_html_body() -> None:
    assert WITH_HTML


@pytest.mark.parametrize("item", WITH_HTML, ids=[n.name for n in WITH_HTML])
def test_html_bodies_escape_every_value(renderer: Renderer, item: Notice) -> None:
    context = {k: (v if k in item.choices else _poisoned(v)) for k, v in item.sample.items()}
    rendered = render_notice(renderer, item.name, context)
    assert rendered.html is not None
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;" in rendered.html
    assert SCRIPT in rendered.text  # plain text is not HTML: nothing to escape


def _one_notice(tmp_path: Path, subject: str, body: str = "Hello {{ name }}\n") -> Renderer:
    folder = tmp_path / "reporter" / "test"
    folder.mkdir(parents=True)
    (folder / "subject.txt.j2").write_text(subject)
    (folder / "body.txt.j2").write_text(body)
    return Renderer(tmp_path)


def test_a_subject_with_a_line_break_in_a_value_is_refused(tmp_path: Path) -> None:
    renderer = _one_notice(tmp_path, "About {{ name }}\n")
    assert renderer.render("reporter/test", {"name": "Sam"}).subject == "About Sam"
    with pytest.raises(HeaderError, match="subject contains a line break"):
        renderer.render("reporter/test", {"name": "Sam\r\nBcc: someone@example.net"})


def test_a_subject_template_over_two_lines_is_refused(tmp_path: Path) -> None:
    renderer = _one_notice(tmp_path, "About\n{{ name }}\n")
    with pytest.raises(HeaderError):
        renderer.render("reporter/test", {"name": "Sam"})


def test_a_shipped_subject_refuses_a_value_with_a_line_break(renderer: Renderer) -> None:
    item = notice("reported/resolution-temporary-ban")
    with pytest.raises(HeaderError):
        render_notice(renderer, item.name, {**item.sample, "ends_on": "1 May\nBcc: someone@example.net"})


def test_header_value() -> None:
    assert header_value("  Report   on a case \n") == "Report on a case"
    for bad in ("one\ntwo", "one\rtwo", "a\r\nBcc: x@example.net"):
        with pytest.raises(HeaderError):
            header_value(bad, "To name")


def test_undefined_variables_and_syntax_errors_are_template_errors(tmp_path: Path) -> None:
    renderer = _one_notice(tmp_path, "Hi", body="Hello {{ name }} {% if %}")
    with pytest.raises(TemplateError, match="TemplateSyntaxError"):
        renderer.render("reporter/test", {"name": "Sam"})
    strict = _one_notice(tmp_path / "b", "Hi", body="{% if nobody %}x{% endif %}")
    with pytest.raises(TemplateError, match="UndefinedError"):
        strict.render("reporter/test", {})


def test_partials_are_not_notices(renderer: Renderer) -> None:
    assert not [name for name in renderer.notices() if name.startswith("_")]


def test_dates_read_as_words() -> None:
    assert format_date(date(2026, 3, 5)) == "5 March 2026"
    assert format_date(datetime(2026, 3, 5, 14, 0, tzinfo=UTC)) == "5 March 2026, 14:00 UTC"
    assert format_date("next Friday") == "next Friday"
