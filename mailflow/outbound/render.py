"""Jinja2 rendering of notices: one folder per audience and notice under ``templates/``.

``reporter/acknowledgement/subject.txt.j2``, ``body.txt.j2`` and optionally ``body.html.j2``.
Undefined variables are errors (StrictUndefined); HTML is autoescaped; a subject is one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateNotFound, select_autoescape

from mailflow.errors import MailflowError


class TemplateError(MailflowError):
    pass


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None = None


def one_line(value: str) -> str:
    """Guard a header value: no CR/LF can reach a header, whatever a variable held."""
    return " ".join(value.split())


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

    def notices(self) -> list[str]:
        """Every notice folder (``audience/notice``) that has a subject and a body."""
        found = []
        for subject in sorted(self.templates_dir.glob("*/*/subject.txt.j2")):
            if (subject.parent / "body.txt.j2").is_file():
                found.append(f"{subject.parent.parent.name}/{subject.parent.name}")
        return found

    def render(self, notice: str, context: dict[str, Any]) -> Rendered:
        try:
            subject = self._env.get_template(f"{notice}/subject.txt.j2").render(context)
            text = self._env.get_template(f"{notice}/body.txt.j2").render(context)
            html = self._optional(f"{notice}/body.html.j2", context)
        except TemplateNotFound as exc:
            raise TemplateError(f"notice {notice!r}: template {exc.name} not found in {self.templates_dir}") from None
        except Exception as exc:  # jinja's UndefinedError, TemplateSyntaxError, ...
            raise TemplateError(f"notice {notice!r}: {exc.__class__.__name__}: {exc}") from None
        return Rendered(subject=one_line(subject), text=text.strip() + "\n", html=html)

    def _optional(self, name: str, context: dict[str, Any]) -> str | None:
        try:
            template = self._env.get_template(name)
        except TemplateNotFound:
            return None
        return template.render(context)
