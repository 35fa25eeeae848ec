"""Jinja2 rendering of notices: one folder per audience and notice under ``templates/``.

``reporter/acknowledgement/subject.txt.j2``, ``body.txt.j2`` and optionally ``body.html.j2``.
Undefined variables are errors (StrictUndefined); ``*.html.j2`` is autoescaped; a subject is one
line: a subject that renders with a line break (from the template or from a value) is refused,
never silently joined, so that no value can smuggle a header into a mail. Folders whose name
starts with ``_`` (``templates/_partials/``) hold shared pieces, not notices.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, meta, select_autoescape

from mailflow.errors import HeaderError, MailflowError, TemplateError  # noqa: F401  (raised here; the hierarchy is in errors.py)

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None = None


def one_line(value: str) -> str:
    """Guard a header value: no CR/LF can reach a header, whatever a variable held."""
    return " ".join(value.split())


def header_value(value: str, what: str = "header value") -> str:
    """``value`` for a header, refused (:class:`HeaderError`) if it holds a CR or LF inside.

    Surrounding whitespace is dropped and runs of spaces are joined (:func:`one_line`).
    """
    stripped = value.strip()
    if "\r" in stripped or "\n" in stripped:
        raise HeaderError(f"{what} contains a line break: {stripped[:60]!r}")
    return one_line(stripped)


def format_date(value: object) -> str:
    """The ``date`` filter: ``13 May 2024`` (a datetime adds ``, 14:00 UTC``); text is left as it is."""
    if isinstance(value, datetime):
        zone = f" {value.tzname()}" if value.tzinfo is not None else ""
        return f"{value.day} {_MONTHS[value.month - 1]} {value.year}, {value:%H:%M}{zone}"
    if isinstance(value, date):
        return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"
    return str(value)


class Renderer:
    def __init__(self, templates_dir: Path) -> None:
        if not templates_dir.is_dir():
            raise TemplateError(f"templates directory not found: {templates_dir}")
        self.templates_dir = templates_dir
        self._env = Environment(
            loader=FileSystemLoader(str(templates_dir)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            keep_trailing_newline=False,
            trim_blocks=False,
        )
        self._env.filters["date"] = format_date

    def notices(self) -> list[str]:
        """Every notice folder (``audience/notice``) that has a subject and a body."""
        found = []
        for subject in sorted(self.templates_dir.glob("*/*/subject.txt.j2")):
            if subject.parent.parent.name.startswith("_"):
                continue
            if (subject.parent / "body.txt.j2").is_file():
                found.append(f"{subject.parent.parent.name}/{subject.parent.name}")
        return found

    def variables(self, template: str) -> set[str]:
        """The context variables ``template`` (a path under the directory) and what it includes may read.

        Read from the source, so a variable in a branch that a given context does not take is
        still named. Raises :class:`TemplateError` for a missing template or a syntax error.
        """
        names: set[str] = set()
        seen: set[str] = set()
        pending = [template]
        while pending:
            name = pending.pop()
            if name in seen:
                continue
            seen.add(name)
            try:
                source, _, _ = self._env.loader.get_source(self._env, name)  # type: ignore[union-attr]
                tree = self._env.parse(source, name=name)
            except TemplateNotFound as exc:
                raise TemplateError(f"template {exc.name} not found in {self.templates_dir}") from None
            except Exception as exc:  # TemplateSyntaxError
                raise TemplateError(f"{name}: {exc.__class__.__name__}: {exc}") from None
            names |= meta.find_undeclared_variables(tree)
            pending += [ref for ref in meta.find_referenced_templates(tree) if ref is not None]
        return names - set(self._env.globals)

    def render(self, notice: str, context: dict[str, Any]) -> Rendered:
        try:
            subject = self._env.get_template(f"{notice}/subject.txt.j2").render(context)
            text = self._env.get_template(f"{notice}/body.txt.j2").render(context)
            html = self._optional(f"{notice}/body.html.j2", context)
        except TemplateNotFound as exc:
            raise TemplateError(f"notice {notice!r}: template {exc.name} not found in {self.templates_dir}") from None
        except Exception as exc:  # jinja's UndefinedError, TemplateSyntaxError, ...
            raise TemplateError(f"notice {notice!r}: {exc.__class__.__name__}: {exc}") from None
        subject = header_value(subject, f"notice {notice!r}: the subject")
        return Rendered(subject=subject, text=text.strip() + "\n", html=html)

    def _optional(self, name: str, context: dict[str, Any]) -> str | None:
        try:
            template = self._env.get_template(name)
        except TemplateNotFound:
            return None
        return template.render(context)
