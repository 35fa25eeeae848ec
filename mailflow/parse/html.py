"""HTML bodies as readable text: block elements become line breaks, entities are decoded.

``html_to_text`` is the plain rendering the diary and the policy gate read. ``html_to_quoted_text``
renders the same way but shows quoted history the way a plain-text client would, so that the
reply extractor (mailflow.parse.reply) can tell the sender's text from the quote: the contents of
quote containers (``<blockquote>``, Yahoo's ``yahoo_quoted``, Outlook for Mac's
``OLK_SRC_BODY_SECTION``) become ``> `` lines, nested quotes ``> > `` lines, and the webmail
signature containers (Gmail's ``gmail_signature``, Thunderbird's ``moz-signature``) are dropped.
"""

from __future__ import annotations

import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, NavigableString, Tag

_BLOCKS = (
    "p",
    "div",
    "br",
    "tr",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "pre",
    "table",
    "hr",
)
_BLANK_RUNS = re.compile(r"\n{3,}")
_TRAILING = re.compile(r"[ \t\xa0]+\n")
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")
_PREFORMATTED = ("pre", "textarea")

# Containers whose whole content is quoted history.
_QUOTE_CLASSES = ("yahoo_quoted", "gmail_quote_container")
_QUOTE_IDS = ("OLK_SRC_BODY_SECTION",)
# Containers that hold the sender's signature block.
_SIGNATURE_CLASSES = ("gmail_signature", "moz-signature")


def _soup(html: str) -> BeautifulSoup:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "head", "title"]):
        tag.decompose()
    return soup


def _break_blocks(soup: BeautifulSoup) -> None:
    for tag in soup.find_all(_BLOCKS):
        if tag.name == "br":
            tag.replace_with("\n")
        else:
            tag.insert_before("\n")
            tag.insert_after("\n")


def _normalize(text: str) -> str:
    text = _TRAILING.sub("\n", text.replace("\r\n", "\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip()


def html_to_text(html: str) -> str:
    soup = _soup(html)
    _break_blocks(soup)
    return _normalize(soup.get_text())


def _has_class(tag: Tag, names: tuple[str, ...]) -> bool:
    classes = tag.get("class") or ()
    return any(name in classes for name in names)


def _is_quote_container(tag: Tag) -> bool:
    return tag.name == "blockquote" or _has_class(tag, _QUOTE_CLASSES) or tag.get("id") in _QUOTE_IDS


def _collapse_whitespace(soup: BeautifulSoup) -> None:
    """Source line breaks and indentation are not text in HTML (outside <pre>): one space each."""
    for string in soup.find_all(string=True):
        if type(string) is not NavigableString or string.find_parent(_PREFORMATTED) is not None:
            continue
        collapsed = _HTML_SPACE.sub(" ", str(string))
        if collapsed != string:
            string.replace_with(collapsed)


def _normalize_lines(text: str) -> str:
    lines = [line.strip(" \t\xa0") for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def html_to_quoted_text(html: str) -> str:
    """Like html_to_text, with quoted history as ``>`` lines and webmail signatures removed.

    Whitespace is collapsed as a browser would, so that a header block written as
    ``Date: ...<br>\n    To: ...<br>`` comes out as consecutive lines.
    """
    soup = _soup(html)
    for tag in soup.find_all(lambda t: _has_class(t, _SIGNATURE_CLASSES)):
        if not tag.decomposed:
            tag.decompose()
    _collapse_whitespace(soup)
    quotes = list(soup.find_all(_is_quote_container))
    _break_blocks(soup)
    # Innermost first: a nested quote is already "> " text when its container is rendered.
    for tag in reversed(quotes):
        inner = _normalize_lines(tag.get_text())
        quoted = "\n".join(f"> {line}".rstrip() for line in inner.split("\n"))
        tag.replace_with(f"\n{quoted}\n")
    return _normalize_lines(soup.get_text())
