"""HTML readers on hostile markup: is reading linear in the size of the body?

For each hostile shape (deep nesting, thousands of unclosed tags, comments or attribute values,
huge attributes, a script never closed, ...) the markup doubles in size, and each reader's time is
printed with the ratio to the previous size: about 2.0 is linear, about 4.0 quadratic.

    .venv/bin/python benchmarks/hostile_html.py [--sizes 50,100,200,400,800,1600] [--limit 5]
                                                [--readers new,old,...] [--shapes nested-tables,...]

Readers:

* ``new``: mailflow.mime.html (html_to_text, html_to_quoted_text and read_html, each timed).
* ``old``: the BeautifulSoup reader it replaced (mailflow/parse/html.py before mailflow.mime.html,
  its code kept below), run only up to the first size that takes longer than ``--limit`` seconds
  (default 5; a run is stopped after ``--cap`` seconds).
* ``stdlib``: html.parser.HTMLParser tokenizing alone (no handlers), same limit.
* ``lxml``, ``selectolax``, ``html5lib``: candidates that were measured before choosing, timed
  when they are installed (they are not dependencies of mailflow).

Not a test: timings belong here, never in the suite.
"""

from __future__ import annotations

import argparse
import multiprocessing
import re
import sys
import time
import warnings
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailflow.mime.html import html_to_quoted_text, html_to_text, read_html  # noqa: E402

KB = 1024


def _repeat(unit: str, size: int, head: str = "", tail: str = "") -> str:
    return head + unit * max((size - len(head) - len(tail)) // len(unit), 1) + tail


SHAPES: dict[str, Callable[[int], str]] = {
    # the report: tables nested 30,000 deep in 450 KB
    "nested-tables": lambda size: _repeat("<table><tr><td>", size, tail="Alice Liddell"),
    "unclosed-b": lambda size: _repeat("<b>", size, tail="Alice Liddell"),
    "unclosed-comments": lambda size: _repeat("<!--", size, head="<p>Alice Liddell</p>"),
    "unclosed-href": lambda size: _repeat('<a href="', size, head="<p>Alice Liddell</p>"),
    "closed-divs": lambda size: _repeat("<div>", size // 2, tail="Alice") + "</div>" * (size // 12),
    "deep-quotes": lambda size: _repeat("<blockquote>x<br>", size),
    "huge-attribute": lambda size: '<a title="' + "A" * size + '">Alice</a>',
    "unclosed-script": lambda size: _repeat("var who = 'Alice';\n", size, head="<script>"),
    "many-attributes": lambda size: _repeat('x="1" ', size, head="<a ", tail=">Alice</a>"),
    "stray-end-tags": lambda size: "<div>" * 300 + _repeat("</span>", size - 1500),
    # throughput on ordinary mail markup
    "ordinary-mail": lambda size: _repeat(
        '<div class="x"><p style="margin:0">Hello <b>there</b>, see <a href="https://example.org/a?b=c">'
        "this link</a> &amp; the notes.</p><blockquote>Quoted &lt;text&gt;</blockquote></div>\n",
        size,
    ),
}


# ------------------------------------------------------------------------ the previous reader


def _old_readers() -> dict[str, Callable[[str], object]]:
    try:
        from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, NavigableString, Tag
    except ImportError:
        return {}

    blocks = ("p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "hr")
    blank_runs = re.compile(r"\n{3,}")
    trailing = re.compile(r"[ \t\xa0]+\n")
    html_space = re.compile(r"[ \t\r\n\f]+")
    quote_classes = ("yahoo_quoted", "gmail_quote_container")
    signature_classes = ("gmail_signature", "moz-signature")

    def soup_of(html: str) -> BeautifulSoup:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
            soup = BeautifulSoup(html, "html.parser")
        for tag in soup(["script", "style", "head", "title"]):
            tag.decompose()
        return soup

    def break_blocks(soup: BeautifulSoup) -> None:
        for tag in soup.find_all(blocks):
            if tag.name == "br":
                tag.replace_with("\n")
            else:
                tag.insert_before("\n")
                tag.insert_after("\n")

    def has_class(tag: Tag, names: tuple[str, ...]) -> bool:
        classes = tag.get("class") or ()
        return any(name in classes for name in names)

    def normalize_lines(text: str) -> str:
        lines = [line.strip(" \t\xa0") for line in text.replace("\r\n", "\n").split("\n")]
        return blank_runs.sub("\n\n", "\n".join(lines)).strip()

    def old_text(html: str) -> str:
        soup = soup_of(html)
        break_blocks(soup)
        text = trailing.sub("\n", soup.get_text().replace("\r\n", "\n"))
        return blank_runs.sub("\n\n", text).strip()

    def old_quoted(html: str) -> str:
        soup = soup_of(html)
        for tag in soup.find_all(lambda t: has_class(t, signature_classes)):
            if not tag.decomposed:
                tag.decompose()
        for string in soup.find_all(string=True):
            if type(string) is not NavigableString or string.find_parent(("pre", "textarea")) is not None:
                continue
            collapsed = html_space.sub(" ", str(string))
            if collapsed != string:
                string.replace_with(collapsed)
        quotes = list(
            soup.find_all(
                lambda t: t.name == "blockquote" or has_class(t, quote_classes) or t.get("id") == "OLK_SRC_BODY_SECTION"
            )
        )
        break_blocks(soup)
        for tag in reversed(quotes):
            inner = normalize_lines(tag.get_text())
            tag.replace_with("\n" + "\n".join(f"> {line}".rstrip() for line in inner.split("\n")) + "\n")
        return normalize_lines(soup.get_text())

    return {"old html_to_text": old_text, "old html_to_quoted_text": old_quoted}


# ------------------------------------------------------------------------------- candidates


class _Silent(HTMLParser):
    pass


def _stdlib(html: str) -> None:
    parser = _Silent(convert_charrefs=True)
    parser.feed(html)
    parser.close()


def _candidates() -> dict[str, Callable[[str], object]]:
    found: dict[str, Callable[[str], object]] = {}
    try:
        import lxml.html

        found["lxml text_content"] = lambda html: lxml.html.document_fromstring(html or "<p>").text_content()
    except ImportError:
        pass
    try:
        from selectolax.lexbor import LexborHTMLParser

        found["selectolax (lexbor) text"] = lambda html: LexborHTMLParser(html).text()
    except ImportError:
        pass
    try:
        from html5lib._tokenizer import HTMLTokenizer

        def tokens(html: str) -> int:
            return sum(1 for _ in HTMLTokenizer(html))

        found["html5lib tokenizer"] = tokens
    except ImportError:
        pass
    return found


def readers(names: set[str]) -> list[tuple[str, Callable[[str], object], bool]]:
    """(label, function, limited): limited readers stop at the first size over the time limit."""
    chosen: list[tuple[str, Callable[[str], object], bool]] = []
    if "new" in names:
        chosen += [
            ("new html_to_text", html_to_text, False),
            ("new html_to_quoted_text", html_to_quoted_text, False),
            ("new read_html", lambda html: read_html(html, "HTML body"), False),
        ]
    if "old" in names:
        chosen += [(label, fn, True) for label, fn in _old_readers().items()]
    if "stdlib" in names:
        chosen.append(("stdlib HTMLParser (tokens only)", _stdlib, True))
    for label, fn in _candidates().items():
        if label.split()[0] in names:
            chosen.append((label, fn, True))
    return chosen


def _run(fn: Callable[[str], object], body: str) -> float:
    started = time.perf_counter()
    fn(body)
    return time.perf_counter() - started


def _child(fn: Callable[[str], object], body: str, conn: object) -> None:
    try:
        result: float | str = _run(fn, body)
    except Exception as error:  # reported, not timed
        result = f"{type(error).__name__}"
    conn.send(result)  # type: ignore[attr-defined]


def _run_capped(fn: Callable[[str], object], body: str, cap: float) -> float | str | None:
    """The time of fn(body) in a forked child, the name of the exception it raised, or None when it
    did not finish within ``cap`` seconds."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, args=(fn, body, send))
    child.start()
    try:
        return receive.recv() if receive.poll(cap) else None
    finally:
        child.kill()
        child.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="50,100,200,400,800,1600", help="KB, comma-separated")
    parser.add_argument("--limit", type=float, default=5.0, help="seconds; slower readers stop there")
    parser.add_argument("--cap", type=float, default=120.0, help="seconds; a slower run is stopped")
    parser.add_argument("--readers", default="new,old,stdlib", help="new, old, stdlib, lxml, selectolax, html5lib")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=", ".join(SHAPES))
    args = parser.parse_args()
    sizes = [int(s) * KB for s in args.sizes.split(",")]
    chosen = readers(set(args.readers.split(",")))
    for shape in args.shapes.split(","):
        build = SHAPES[shape]
        print(f"\n{shape}: " + " ".join(f"{size // KB:>9} KB" for size in sizes))
        bodies = [build(size) for size in sizes]
        for label, fn, limited in chosen:
            cells = []
            previous = None
            for body in bodies:
                seconds = _run_capped(fn, body, args.cap) if limited else _run(fn, body)
                if seconds is None:
                    cells.append(f">{args.cap:.0f} (stopped)")
                    break
                if isinstance(seconds, str):
                    cells.append(seconds)
                    break
                ratio = f"({seconds / previous:.1f})" if previous and previous > 0.0005 else ""
                cells.append(f"{seconds:>6.3f}{ratio:<6}")
                previous = seconds
                if limited and seconds > args.limit:
                    break
            print(f"  {label:<32}" + " ".join(f"{cell:>12}" for cell in cells), flush=True)


if __name__ == "__main__":
    main()
