"""HTML as text: what the diary, reply extraction and the policy gate read of an HTML part."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from urllib.parse import unquote

from mailflow.mime.reading import Budget, Reading, Text
from mailflow.parse.html import html_to_quoted_text, html_to_text

__all__ = ["html_to_quoted_text", "html_to_text", "read_html"]

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "caption",
        "dd",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "option",
        "p",
        "pre",
        "section",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "title",
        "tr",
        "ul",
    ]
)
_SKIPPED_ATTRS = frozenset(
    [
        "style",
        "class",
        "id",
        "width",
        "height",
        "align",
        "valign",
        "bgcolor",
        "color",
        "border",
        "cellpadding",
        "cellspacing",
        "face",
        "size",
        "dir",
        "lang",
        "type",
        "rel",
        "target",
        "colspan",
        "rowspan",
        "nowrap",
        "charset",
        "http-equiv",
        "shape",
        "coords",
        "role",
    ]
)
_TAG = re.compile(r"<[^>]*>")


class _HTMLText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.attrs: dict[str, list[str]] = {}
        self.comments: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.text.append("\n")
        for name, value in attrs:
            if value and value.strip() and name not in _SKIPPED_ATTRS and not name.startswith("on"):
                self.attrs.setdefault(name, []).append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden = max(self._hidden - 1, 0)
        elif tag in _BLOCK_TAGS:
            self.text.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)

    def handle_comment(self, data: str) -> None:
        self.comments.append(data)


def read_html(markup: str, where: str, budget: Budget | None = None) -> Reading:
    """Visible text (tags stripped without adding spaces inside words), attribute values, comments."""
    parser = _HTMLText()
    try:
        parser.feed(markup)
        parser.close()
        text = "".join(parser.text)
    except Exception:  # html.parser gives up on some broken markup: strip tags by hand instead
        text = html.unescape(_TAG.sub("", re.sub(r"(?is)<(script|style)\b.*?</\1\s*>", "", markup)))
    texts = [Text(where, text)]
    for name, values in parser.attrs.items():
        readable = [v for v in values if v.lstrip()[:5].lower() != "data:" or v.lstrip()[5:10].lower() == "text/"]
        if not readable:
            continue
        value = "\n".join(readable)
        decoded = unquote(value, errors="replace") if "%" in value else value
        texts.append(Text(f"{where} ({name} attribute)", decoded))
    if parser.comments:
        texts.append(Text(f"{where} (comment)", "\n".join(parser.comments)))
    return Reading(tuple(texts))
