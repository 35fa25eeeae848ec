"""The one HTML reader: bodies as text for the diary and reply extraction, every readable surface for the gate.

``html_to_text`` renders an HTML body the way the diary shows it: block elements become line breaks,
entities are decoded, ``<script>``, ``<style>``, ``<head>`` and ``<title>`` are dropped.
``html_to_quoted_text`` renders the same way but shows quoted history as a plain-text client would,
so that the reply extractor (mailflow.parse.reply) can tell the sender's text from the quote: the
contents of quote containers (``<blockquote>``, Yahoo's ``yahoo_quoted``, Gmail's
``gmail_quote_container``, Outlook for Mac's ``OLK_SRC_BODY_SECTION``) become ``> `` lines, nested
quotes ``> > `` lines, the webmail signature containers (Gmail's ``gmail_signature``, Thunderbird's
``moz-signature``) are dropped, and whitespace is collapsed as a browser does outside ``<pre>`` and
``<textarea>``.

``read_html`` is the policy gate's reading (see its docstring): the visible text, the text of hidden
elements, CSS, scripts, attribute values and comments, each a :class:`~mailflow.mime.reading.Text`.

How the markup is read (one pass, linear in its size, memory bounded by a small multiple of it):

* A tokenizer written here, after the WHATWG tokenizer's states for what mail contains: text, start
  and end tags with their attributes (quoted values may hold ``>``), comments (``<!-->``,
  ``--!>``), bogus comments and declarations, raw text elements (``<script>``, ``<style>``,
  ``<xmp>``, ``<iframe>``, ``<noembed>``, ``<noframes>``), ``<title>``/``<textarea>`` (entities
  decoded, no tags) and ``<plaintext>``. Every character is looked at a bounded number of times:
  each construct is scanned forward once, and a construct that is not closed before the end of the
  markup (a comment, a tag, an attribute value, a declaration) ends the reading: the rest of the
  markup, from its ``<``, is text (browsers would drop it; here nothing is lost).
* A stack of open elements, capped at ``Limits.max_html_depth``: deeper elements are read flat (their
  text and attributes are read, their extent is not tracked), end tags close the most recent open
  element of their name (counted per name, so a stray end tag costs O(1)), and a few implied end
  tags keep real-world markup shallow (``<p>`` before a block, ``<li>``, ``<dt>``/``<dd>``, table
  cells and rows, ``<option>``, ``<head>`` before body content). No tree is built, nothing recurses.

Why this tokenizer and not a parser from elsewhere, measured with benchmarks/hostile_html.py
(CPython 3.11.7, seconds per body, the ratio to half the size in brackets: 2 is linear, 4 quadratic):

* BeautifulSoup over html.parser (the previous reader): 30,000-deep tables (450 KB) take minutes,
  50 KB 4.4 s, 100 KB 17.4 s (3.9); 100,000 ``<!--``: 50 KB 2.2 s, 100 KB 5.7 s; even flat ordinary
  mail is quadratic (``insert_after`` looks the tag up among its siblings): 400 KB 2.7 s, 800 KB
  19.7 s (7.3).
* The stdlib ``html.parser.HTMLParser`` (tokens only, no tree): ``close()`` rescans an unclosed
  construct from every ``<`` after it: ``<!--`` x N 50 KB 1.7 s, 100 KB 5.8 s (3.4); ``<a href="`` x N
  50 KB 4.6 s, 100 KB 17.6 s (3.8). It also drops the content of a ``<script>`` or ``<style>`` that
  is never closed (3.11's ``goahead`` skips the tail while ``cdata_elem`` is set): a hole for the gate.
  Working around both means rewriting its ``goahead``: that is the tokenizer here.
* lxml 6.1 (libxml2 2.14): stops at depth 256 and drops the rest of the document, so the text after
  30,000 nested tables or 100,000 ``<b>`` is lost (a leak for the gate), and its HTML recovery changes
  with the bundled libxml2 (2.14 replaced its tokenizer).
* selectolax 1.0 (lexbor): quadratic in depth: 5,000 nested closed ``<div>`` (100 KB) 0.18 s, 800 KB
  14.3 s; nested ``<blockquote>`` 400 KB 1.4 s, 800 KB 5.0 s. And a tree to walk afterwards.
* html5lib's tokenizer (pure Python, unmaintained): ``<!--`` x N 400 KB 1.3 s, 800 KB 5.4 s (4.1);
  ``x="1"`` x N 200 KB 1.5 s, 400 KB 5.3 s (3.5).
* This module, every shape above at 1.6 MB: 0.01 to 1.4 s per rendering, ratios about 2.0 (noise
  on a shared machine: 1.5 to 2.8); ordinary mail about 5 MB/s. No dependency.

No message content is ever logged here.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
from collections.abc import Callable
from html.entities import html5 as html5_entities
from urllib.parse import unquote

from mailflow.mime.reading import Budget, Limits, Reading, Text, Unread

__all__ = ["html_to_quoted_text", "html_to_text", "read_html"]

OVER_BUDGET = "text over the budget"

# ------------------------------------------------------------------------------------ tokenizer

_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# The rest of a tag name after its first letter (WHATWG: anything but whitespace, "/" and ">").
_TAG_NAME = re.compile(r"[^\t\n\f\r />]*+")
# One attribute, or the ">" that ends the tag, after whitespace and stray "/". Possessive quantifiers
# only: a match never backtracks, so each attribute is scanned once. A quoted value that is not
# closed leaves its closing group empty (the tag runs to the end of the markup).
_ATTR = re.compile(
    r"[\t\n\f\r /]*+"
    r"(?:(>)"
    r"|([^\t\n\f\r />][^\t\n\f\r />=]*+)"
    r"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+(?:\"([^\"]*+)(\"?)|'([^']*+)('?)|([^\t\n\f\r >]*+)))?+)"
)
_COMMENT_END = re.compile(r"--!?>")
_RAWTEXT = frozenset({"script", "style", "xmp", "iframe", "noembed", "noframes"})
_RCDATA = frozenset({"title", "textarea"})
_RAW_ENDS: dict[str, re.Pattern[str]] = {}

_Attrs = list[tuple[str, str]]


def _raw_end(name: str) -> re.Pattern[str]:
    pattern = _RAW_ENDS.get(name)
    if pattern is None:
        pattern = _RAW_ENDS[name] = re.compile(f"</{name}[\t\n\f\r />]", re.IGNORECASE)
    return pattern


def _unescape_attr(value: str) -> str:
    """Character references in an attribute value (a legacy ``&copy`` before ``=`` or a letter stays)."""
    return _ATTR_REF.sub(_attr_ref, value) if "&" in value else value


_ATTR_REF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)(?=(.?))", re.DOTALL)


def _attr_ref(m: re.Match[str]) -> str:
    ref = m.group(1)
    if ref.startswith("#") or ref in html5_entities:
        return html.unescape("&" + ref)
    for length in range(len(ref), 0, -1):  # the longest legacy name without ";" ("&copy2024")
        name = ref[:length]
        if name in html5_entities:
            after = ref[length : length + 1] or m.group(2)
            if after == "=" or after.isalnum():  # "?a=1&copy=2" stays as written
                return "&" + ref
            return html5_entities[name] + ref[length:]
    return "&" + ref


# The attributes a start tag hands to the tree (the first of each name, as browsers keep); every
# attribute, these included, goes to ``_Sink.attribute`` as it is read, so that a tag with a
# million attributes is never held as a list.
_STRUCTURAL = frozenset({"style", "hidden", "class", "id"})


class _Sink:
    """What the tokenizer reports to (the tree of open elements below)."""

    wants_attributes = False

    def data(self, text: str) -> None: ...
    def attribute(self, name: str, value: str) -> None: ...
    def start(self, name: str, attrs: _Attrs, self_closing: bool) -> None: ...
    def end(self, name: str) -> None: ...
    def raw(self, name: str, text: str) -> None: ...
    def comment(self, text: str) -> None: ...


def _tag(
    markup: str, pos: int, report: Callable[[str, str], None] | None, *, keep: bool = True
) -> tuple[_Attrs, int, bool] | None:
    """The structural attributes of the tag whose name ends at ``pos``, the end of the tag and
    whether it ends with "/>"; None when the markup ends inside the tag. ``report`` is given every
    attribute as it is read."""
    attrs: _Attrs | None = [] if keep else None
    match = _ATTR.match
    while True:
        m = match(markup, pos)
        if m is None:
            return None
        if m.group(1) is not None:
            gt = m.start(1)
            return attrs or [], gt + 1, gt > m.start() and markup[gt - 1] == "/"
        value = m.group(3)
        if value is not None:
            if not m.group(4):
                return None
        else:
            value = m.group(5)
            if value is not None:
                if not m.group(6):
                    return None
            else:
                value = m.group(7) or ""
        pos = m.end()
        if report is None and attrs is None:
            continue
        name = m.group(2).lower()
        if report is not None:
            value = _unescape_attr(value)
            report(name, value)
        if attrs is not None and name in _STRUCTURAL and all(name != seen for seen, _ in attrs):
            attrs.append((name, value if report is not None else _unescape_attr(value)))


def _tokenize(markup: str, sink: _Sink) -> None:
    n = len(markup)
    find = markup.find
    startswith = markup.startswith
    text_start = pos = 0
    report = sink.attribute if sink.wants_attributes else None

    def flush(end: int) -> None:
        if end > text_start:
            chunk = markup[text_start:end]
            sink.data(html.unescape(chunk) if "&" in chunk else chunk)

    while True:
        lt = find("<", pos)
        if lt < 0 or lt + 1 >= n:
            break
        nxt = markup[lt + 1]
        if nxt in _LETTERS:
            name_end = _TAG_NAME.match(markup, lt + 2).end()  # type: ignore[union-attr]
            tag = _tag(markup, name_end, report)
            if tag is None:
                break
            flush(lt)
            name = markup[lt + 1 : name_end].lower()
            attrs, pos, self_closing = tag
            sink.start(name, attrs, self_closing)
            if name in _RAWTEXT or name in _RCDATA:
                close = _raw_end(name).search(markup, pos)
                end_tag = _tag(markup, close.start() + len(name) + 2, None, keep=False) if close else None
                if close is None or end_tag is None:
                    sink.raw(name, markup[pos:])
                    text_start = pos = n
                    break
                sink.raw(name, markup[pos : close.start()])
                sink.end(name)
                pos = end_tag[1]
            elif name == "plaintext":
                sink.raw(name, markup[pos:])
                text_start = pos = n
                break
            text_start = pos
        elif nxt == "/":
            after = markup[lt + 2 : lt + 3]
            if after in _LETTERS:
                name_end = _TAG_NAME.match(markup, lt + 3).end()  # type: ignore[union-attr]
                tag = _tag(markup, name_end, None, keep=False)
                if tag is None:
                    break
                flush(lt)
                sink.end(markup[lt + 2 : name_end].lower())
                text_start = pos = tag[1]
            elif after == ">":
                flush(lt)
                text_start = pos = lt + 3
            elif not after:
                break
            else:  # "</ ...>", "</1>": a bogus comment
                gt = find(">", lt + 2)
                if gt < 0:
                    break
                flush(lt)
                sink.comment(markup[lt + 2 : gt])
                text_start = pos = gt + 1
        elif nxt == "!":
            if startswith("<!--", lt):
                body = lt + 4
                if startswith(">", body):
                    end, close_at = body, body + 1
                elif startswith("->", body):
                    end, close_at = body, body + 2
                else:
                    m = _COMMENT_END.search(markup, body)
                    if m is None:
                        break
                    end, close_at = m.start(), m.end()
                flush(lt)
                sink.comment(markup[body:end])
                text_start = pos = close_at
            else:  # <!DOCTYPE ...>, <![CDATA[...]]> (a bogus comment in HTML content), <!...>
                gt = find(">", lt + 2)
                if gt < 0:
                    break
                flush(lt)
                declaration = markup[lt + 2 : gt]
                if declaration[:7].lower() != "doctype":
                    sink.comment(declaration)
                text_start = pos = gt + 1
        elif nxt == "?":  # <?xml ...?>, <?php ...>: a bogus comment
            gt = find(">", lt + 2)
            if gt < 0:
                break
            flush(lt)
            sink.comment(markup[lt + 1 : gt])
            text_start = pos = gt + 1
        else:  # "<" before anything else is text
            pos = lt + 1
    flush(n)


class _Chunks:
    """Strings added one by one and joined a few thousand at a time: many small strings (a text
    between each pair of tags, an attribute value per tag) cost their characters, not an object each."""

    __slots__ = ("done", "parts", "sep")

    def __init__(self, sep: str) -> None:
        self.sep = sep
        self.parts: list[str] = []
        self.done: list[str] = []

    def add(self, text: str) -> None:
        parts = self.parts
        parts.append(text)
        if len(parts) >= 4096:
            self.done.append(self.sep.join(parts))
            self.parts = []

    def __bool__(self) -> bool:
        return bool(self.parts or self.done)

    def text(self) -> str:
        if not self.done:
            return self.sep.join(self.parts)
        return self.sep.join([*self.done, self.sep.join(self.parts)] if self.parts else self.done)


# --------------------------------------------------------------------------- open elements


def _names(words: str) -> frozenset[str]:
    return frozenset(words.split())


_VOID = _names(
    "area base basefont bgsound br col embed frame hr image img input keygen link meta param source track wbr"
)
_HEAD_CONTENT = _names("base basefont bgsound link meta title noscript noframes style script template head")
_CLOSES_P = _names(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption figure footer form "
    "h1 h2 h3 h4 h5 h6 header hgroup hr listing main menu nav ol p plaintext pre section summary table ul xmp"
)
_HEADINGS = _names("h1 h2 h3 h4 h5 h6")
# A start tag closes these when one of them is the current element (WHATWG implied end tags, simplified).
_IMPLIED: dict[str, frozenset[str]] = {name: frozenset({"p"}) for name in _CLOSES_P}
_IMPLIED.update(
    {
        **{h: frozenset({"p", *_HEADINGS}) for h in _HEADINGS},
        "li": frozenset({"p", "li"}),
        "dt": frozenset({"p", "dt", "dd"}),
        "dd": frozenset({"p", "dt", "dd"}),
        "option": frozenset({"option"}),
        "optgroup": frozenset({"option", "optgroup"}),
        "td": frozenset({"p", "td", "th"}),
        "th": frozenset({"p", "td", "th"}),
        "tr": frozenset({"p", "td", "th", "tr"}),
        "tbody": frozenset({"p", "td", "th", "tr", "tbody", "thead", "tfoot"}),
        "thead": frozenset({"p", "td", "th", "tr", "tbody", "thead", "tfoot"}),
        "tfoot": frozenset({"p", "td", "th", "tr", "tbody", "thead", "tfoot"}),
        "table": frozenset({"p", "table"}),
    }
)
_NOT_SPACE = re.compile(r"[^ \t\n\f\r]")


class _Tree(_Sink):
    """The open elements, at most ``depth`` of them; subclasses say what opening and closing does.

    ``_open`` returns the element's state (flags), handed back to ``_close``. An element opened past
    the cap is ``flat``: ``_open`` must not change lasting state for it, and its end tag calls
    ``_close_flat`` (its state was not kept).
    """

    def __init__(self, depth: int) -> None:
        self.depth = max(depth, 1)
        self.stack: list[tuple[str, int]] = []
        self.open_count: dict[str, int] = {}
        self.flat: dict[str, int] = {}

    # subclasses
    def _open(self, name: str, attrs: _Attrs, flat: bool) -> int:
        return 0

    def _close(self, name: str, state: int) -> None:
        pass

    def _close_flat(self, name: str) -> None:
        pass

    def _text(self, text: str) -> None:
        pass

    # tokenizer events
    def start(self, name: str, attrs: _Attrs, self_closing: bool) -> None:
        stack = self.stack
        if self.open_count.get("head") and name not in _HEAD_CONTENT:
            self._pop_to("head")
        implied = _IMPLIED.get(name)
        if implied is not None:
            while stack and stack[-1][0] in implied:
                self._pop()
        foreign = self_closing and (":" in name or self.open_count.get("svg") or self.open_count.get("math"))
        if name in _VOID or foreign:
            self._close(name, self._open(name, attrs, False))
        elif len(stack) >= self.depth:
            self.flat[name] = self.flat.get(name, 0) + 1
            self._open(name, attrs, True)
        else:
            stack.append((name, self._open(name, attrs, False)))
            self.open_count[name] = self.open_count.get(name, 0) + 1

    def end(self, name: str) -> None:
        if self.flat.get(name):
            self.flat[name] -= 1
            self._close_flat(name)
        elif self.open_count.get(name):
            self._pop_to(name)
        elif name == "br":  # WHATWG: </br> is a <br>
            self._close(name, self._open(name, [], False))

    def data(self, text: str) -> None:
        if self.open_count.get("head") and _NOT_SPACE.search(text):
            self._pop_to("head")
        self._text(text)

    def finish(self) -> None:
        while self.stack:
            self._pop()

    def _pop(self) -> str:
        name, state = self.stack.pop()
        self.open_count[name] -= 1
        self._close(name, state)
        return name

    def _pop_to(self, name: str) -> None:
        while self._pop() != name:
            pass


# ----------------------------------------------------------------------------- renderings

_BLOCKS = _names("p div br tr li h1 h2 h3 h4 h5 h6 blockquote pre table hr")
_DROPPED = frozenset({"script", "style", "head", "title"})
_PREFORMATTED = frozenset({"pre", "textarea"})
# Containers whose whole content is quoted history.
_QUOTE_CLASSES = frozenset({"yahoo_quoted", "gmail_quote_container"})
_QUOTE_IDS = frozenset({"OLK_SRC_BODY_SECTION"})
# Containers that hold the sender's signature block.
_SIGNATURE_CLASSES = frozenset({"gmail_signature", "moz-signature"})
_HTML_SPACE = re.compile(r"[ \t\r\n\f]+")
_BLANK_RUNS = re.compile(r"\n{3,}")
# Quote levels written out in front of a line; deeper quotes keep this many "> " (bounded output).
_MAX_QUOTE_PREFIX = 16

_BLOCK, _DROP, _QUOTE, _PRE = 1, 2, 4, 8


def _classes(attrs: _Attrs) -> set[str]:
    return {word for name, value in attrs if name == "class" for word in value.split()}


class _Rendering(_Tree):
    """Text of the body as the diary shows it; ``quoted``: quote containers as "> " lines."""

    def __init__(self, quoted: bool) -> None:
        super().__init__(Limits().max_html_depth)
        self.quoted = quoted
        self.dropping = 0  # open dropped elements (script, style, head, title, signatures)
        self.pre = 0
        self.pieces = _Chunks("")
        # quoted mode: finished lines, the current line, and the state of the open quote levels
        self.lines = _Chunks("\n")
        self.level = 0
        self.filled = 0  # levels 0 .. filled-1 have had a line of content
        self.pending = -1  # the level of the one blank line waiting for content after it
        self.line = _Chunks("")
        self.emit: Callable[[str], None] = self._emit_quoted if quoted else self.pieces.add

    def _open(self, name: str, attrs: _Attrs, flat: bool) -> int:
        if self.dropping:
            return 0
        classes = _classes(attrs) if self.quoted and attrs else None
        if name in _DROPPED or (classes and not classes.isdisjoint(_SIGNATURE_CLASSES)):
            if flat:
                return 0
            self.dropping += 1
            return _DROP
        state = 0
        if name == "br":
            self.emit("\n")
        elif name in _BLOCKS:
            self.emit("\n")
            state = _BLOCK
        if flat:
            return 0
        if name in _PREFORMATTED:
            self.pre += 1
            state |= _PRE
        if self.quoted and (
            name == "blockquote"
            or (classes and not classes.isdisjoint(_QUOTE_CLASSES))
            or any(n == "id" and v in _QUOTE_IDS for n, v in attrs)
        ):
            self.emit("\n")
            self.level += 1
            state |= _QUOTE
        return state

    def _close(self, name: str, state: int) -> None:
        if state & _DROP:
            self.dropping -= 1
            return
        if state & _QUOTE:
            self._leave_quote()
        if state & _BLOCK:
            self.emit("\n")
        if state & _PRE:
            self.pre -= 1

    def _close_flat(self, name: str) -> None:
        if not self.dropping and name in _BLOCKS and name != "br":
            self.emit("\n")

    def _text(self, text: str) -> None:
        if self.dropping:
            return
        if not self.pre:
            if not _NOT_SPACE.search(text):  # a run of whitespace between tags is one space or newline
                text = "\n" if "\n" in text and not self.quoted else " "
            elif self.quoted:
                text = _HTML_SPACE.sub(" ", text)
        self.emit(text)

    def raw(self, name: str, text: str) -> None:
        if name in _DROPPED or name in ("iframe", "noembed", "noframes"):
            return  # not shown by a mail client (the gate reads them: read_html)
        self._text(html.unescape(text) if name == "textarea" and "&" in text else text)

    # quoted mode: lines with their quote level
    def _emit_quoted(self, text: str) -> None:
        if "\n" not in text:
            self.line.add(text)
            return
        parts = text.split("\n")
        for part in parts[:-1]:
            self.line.add(part)
            self._end_line()
        self.line.add(parts[-1])

    def _end_line(self) -> None:
        text = self.line.text().strip(" \t\xa0")
        self.line = _Chunks("")
        if text:
            self._content(self.level, text)
        elif self.filled > self.level:
            self.pending = self.level

    def _content(self, level: int, text: str) -> None:
        if self.pending >= 0:
            self.lines.add(self._prefix(self.pending).rstrip())
            self.pending = -1
        self.lines.add(self._prefix(level) + text if text else self._prefix(level).rstrip())
        self.filled = level + 1

    @staticmethod
    def _prefix(level: int) -> str:
        return "> " * min(level, _MAX_QUOTE_PREFIX)

    def _leave_quote(self) -> None:
        self._end_line()
        level = self.level
        if self.pending == level:
            self.pending = -1
        if self.filled <= level:  # an empty quote is still a ">" line
            self._content(level, "")
        self.level = level - 1
        self.filled = level

    def render(self, markup: str) -> str:
        _tokenize(_newlines(markup), self)
        self.finish()
        if self.quoted:
            self._end_line()
            return self.lines.text()
        text = "\n".join(line.rstrip(" \t\xa0") for line in self.pieces.text().split("\n"))
        return _BLANK_RUNS.sub("\n\n", text).strip()


def _newlines(markup: str) -> str:
    """WHATWG input preprocessing: CR LF and lone CR are LF."""
    return markup.replace("\r\n", "\n").replace("\r", "\n") if "\r" in markup else markup


def html_to_text(markup: str) -> str:
    """The text of an HTML body: block elements as line breaks, entities decoded, scripts, styles,
    ``<head>`` and ``<title>`` dropped, trailing spaces and runs of blank lines trimmed."""
    return _Rendering(quoted=False).render(markup)


def html_to_quoted_text(markup: str) -> str:
    """Like html_to_text, with quoted history as ``>`` lines and webmail signatures removed.

    Whitespace is collapsed as a browser would, so that a header block written as
    ``Date: ...<br>\\n    To: ...<br>`` comes out as consecutive lines.
    """
    return _Rendering(quoted=True).render(markup)


# ------------------------------------------------------------------------ the gate's reading

# Elements that separate words (a recipient sees a line or cell break between their texts).
_WORD_BREAKS = _names(
    "address article aside blockquote br caption center dd details dialog div dl dt fieldset figcaption "
    "figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr legend li main menu nav ol option p pre section "
    "summary table tbody td tfoot th thead title tr ul"
)
# Attributes that hold no text for a person (layout, styling hooks, enumerations).
_SKIPPED_ATTRS = _names(
    "style class id width height align valign bgcolor color border cellpadding cellspacing face size "
    "dir lang type rel target colspan rowspan nowrap charset http-equiv shape coords role hidden"
)
# Inline CSS that hides an element: display:none, visibility:hidden, font-size:0 (also the "font:0/0"
# shorthand), opacity:0, Outlook's mso-hide:all.
_ZERO = r"(?:0++(?:\.0*+)?+|\.0++)"
_HIDING = re.compile(
    r"(?:^|;)[\s]*+(?:display[\s]*+:[\s]*+none|visibility[\s]*+:[\s]*+(?:hidden|collapse)|mso-hide[\s]*+:[\s]*+all"
    rf"|opacity[\s]*+:[\s]*+{_ZERO}%?+|font-size[\s]*+:[\s]*+{_ZERO}(?:[a-z]++|%)?+"
    rf"|font[\s]*+:[\s]*+{_ZERO}(?:[a-z]++|%)?+[\s]*+/)"
    r"[\s]*+(?:![\s]*+important[\s]*+)?+(?=;|$)",
    re.IGNORECASE,
)
_UNSHOWN = frozenset({"iframe", "noembed", "noframes"})  # raw text a mail client does not render
_HIDDEN = 16


def _hides(style: str) -> bool:
    return _HIDING.search(style) is not None


# Surfaces of attribute values, one per name; the names after these many share one surface.
_MAX_ATTRIBUTE_NAMES = 100
_OTHER_ATTRIBUTES = ""


class _GateReading(_Tree):
    wants_attributes = True

    def __init__(self, depth: int) -> None:
        super().__init__(depth)
        self.hidden = 0
        self.visible = _Chunks("")
        self.everything = _Chunks("")
        # name -> (values as read, values as written), in the order the names were first seen
        self.attributes: dict[str, tuple[_Chunks, _Chunks]] = {}
        self.styles = _Chunks("\n")
        self.scripts = _Chunks("\n")
        self.comments = _Chunks("\n")

    def attribute(self, name: str, value: str) -> None:
        if name == "style":
            self.styles.add(value)
        elif name.startswith("on"):
            self.scripts.add(value)
        elif name not in _SKIPPED_ATTRS and value.strip():
            text = _attribute_text(value)
            if text is None:
                return
            chunks = self.attributes.get(name)
            if chunks is None:
                if len(self.attributes) >= _MAX_ATTRIBUTE_NAMES:
                    name, text, value = _OTHER_ATTRIBUTES, f"{name}={text}", f"{name}={value}"
                    chunks = self.attributes.get(name)
                if chunks is None:
                    chunks = self.attributes[name] = (_Chunks("\n"), _Chunks("\n"))
            chunks[0].add(text)
            chunks[1].add(value)

    def _open(self, name: str, attrs: _Attrs, flat: bool) -> int:
        hides = name == "template" or any(
            attr == "hidden" or (attr == "style" and _hides(value)) for attr, value in attrs
        )
        state = 0
        if name in _WORD_BREAKS:
            self._break(hides)
            state = _BLOCK
        if hides and not flat:
            self.hidden += 1
            state |= _HIDDEN
        return state

    def _close(self, name: str, state: int) -> None:
        if state & _BLOCK:
            self._break(False)
        if state & _HIDDEN:
            self.hidden -= 1

    def _close_flat(self, name: str) -> None:
        if name in _WORD_BREAKS:
            self._break(False)

    def _break(self, hides: bool) -> None:
        self.everything.add("\n")
        if not self.hidden and not hides:
            self.visible.add("\n")

    def _text(self, text: str) -> None:
        self.everything.add(text)
        if not self.hidden:
            self.visible.add(text)

    def raw(self, name: str, text: str) -> None:
        if name == "script":
            self.scripts.add(text)
        elif name == "style":
            self.styles.add(text)
        elif name in _UNSHOWN:
            self.everything.add(text)
        else:  # title, textarea (entities decoded), xmp, plaintext
            self._text(html.unescape(text) if name in _RCDATA and "&" in text else text)

    def comment(self, text: str) -> None:
        self.comments.add(text)

    def texts(self, where: str) -> list[Text]:
        visible = self.visible.text()
        everything = self.everything.text()
        found = [Text(where, visible)]
        if everything != visible:
            found.append(Text(f"{where} (hidden text)", everything))
        del visible, everything
        if self.styles:
            found.append(Text(f"{where} (style)", _with_lines(self.styles.text(), _css_strings)))
        if self.scripts:
            found.append(Text(f"{where} (script)", _with_lines(self.scripts.text(), _js_strings)))
        for name, (read, written) in self.attributes.items():
            decoded, raw = read.text(), written.text()
            label = f"{name} attribute" if name != _OTHER_ATTRIBUTES else "other attributes"
            found.append(Text(f"{where} ({label})", decoded, raw=raw if raw != decoded else None))
        if self.comments:
            found.append(Text(f"{where} (comment)", _with_lines(self.comments.text(), _comment_text)))
        return [text for text in found if text.text.strip()]


def _with_lines(text: str, more: Callable[[str], list[str]]) -> str:
    extra = more(text)
    return "\n".join([text, *extra]) if extra else text


def _attribute_text(value: str) -> str | None:
    """What an attribute value reads as: percent-decoded, text data: URIs in base64 decoded, None for
    a data: URI of an image."""
    start = value.lstrip()
    if start[:5].lower() == "data:":
        header, _, payload = start[5:].partition(",")
        media = header.lower().strip()
        if media.startswith("image/"):
            return None
        if media.endswith(";base64") and (media.startswith(("text/", ";")) or media == ";base64"):
            try:
                data = base64.b64decode(_NOT_BASE64.sub("", payload) + "==")
            except (binascii.Error, ValueError):
                data = None
            if data is not None:
                return data.decode("utf-8", "replace")
    return unquote(value, errors="replace") if "%" in value else value


_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]+")


_MARKUP = re.compile(r"<[^<>]*+>")


def _comment_text(comments: str) -> list[str]:
    """Conditional comments (``<!--[if mso]><p>...<![endif]-->``) are rendered by Outlook: their text."""
    if "<" not in comments:
        return []
    return [html.unescape(_MARKUP.sub("", comments))]


# CSS: the strings of ``content:`` declarations (``p::after { content: "Ali" "ce" }`` reads "Alice").
_CSS_TOKEN = re.compile(r"/\*|[\"']|(?<![\w-])content[\s]*+:|[;{}]", re.IGNORECASE)
_CSS_STRING_BODY = {
    '"': re.compile(r"(?:[^\"\\\n]++|\\[\s\S])*+"),
    "'": re.compile(r"(?:[^'\\\n]++|\\[\s\S])*+"),
}
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\n\f]?|\n|([\s\S]))")


def _css_unescape_one(m: re.Match[str]) -> str:
    if m.group(1):
        code = int(m.group(1), 16)
        return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"
    return m.group(2) or ""


def _css_strings(css: str) -> list[str]:
    found: list[str] = []
    current: list[str] | None = None
    pos = 0
    n = len(css)
    while True:
        m = _CSS_TOKEN.search(css, pos)
        if m is None:
            break
        token = m.group()
        pos = m.end()
        if token == "/*":
            end = css.find("*/", pos)
            if end < 0:
                break
            pos = end + 2
        elif token in _CSS_STRING_BODY:
            body = _CSS_STRING_BODY[token].match(css, pos)
            end = body.end()  # type: ignore[union-attr]
            if current is not None:
                current.append(_CSS_ESCAPE.sub(_css_unescape_one, css[pos:end]))
            pos = end + 1 if end < n and css[end] == token else end
        elif token in ";{}":
            if current:
                found.append("".join(current))
            current = None
        else:  # content:
            current = []
    if current:
        found.append("".join(current))
    return found


# JavaScript: string literals (escapes decoded), "a" + "b" concatenations, String.fromCharCode(...).
_JS_TOKEN = re.compile(r"[\"'`]|//|/\*")
_JS_STRING_BODY = {
    '"': re.compile(r"(?:[^\"\\\n]++|\\[\s\S])*+"),
    "'": re.compile(r"(?:[^'\\\n]++|\\[\s\S])*+"),
    "`": re.compile(r"(?:[^`\\]++|\\[\s\S])*+"),
}
_JS_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u\{([0-9a-fA-F]{1,6})\}|u([0-9a-fA-F]{4})|\n|([\s\S]))")
_JS_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}
_FROM_CHAR_CODE = re.compile(r"fromCharCode[\s]*+\(([0-9a-fA-FxX,\s]*+)\)")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _js_unescape_one(m: re.Match[str]) -> str:
    hexa = m.group(1) or m.group(2) or m.group(3)
    if hexa:
        code = int(hexa, 16)
        return chr(code) if code <= 0x10FFFF else "\ufffd"
    other = m.group(4)
    return "" if other is None else _JS_SIMPLE.get(other, other)


def _js_unescape(body: str) -> str:
    text = _JS_ESCAPE.sub(_js_unescape_one, body)
    if _SURROGATE.search(text):  # "\ud83d\ude00": a pair written as two escapes
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def _js_strings(script: str) -> list[str]:
    """The decoded string literals of a script: those that had escapes, and joined concatenations."""
    found: list[str] = []
    run: list[str] = []  # literals joined by "+"
    escaped = False
    run_end = -1
    pos = 0
    n = len(script)

    def close_run() -> None:
        if len(run) > 1 or escaped:
            joined = "".join(run)
            found.append(joined)
            if "%" in joined:
                found.append(unquote(joined, errors="replace"))

    while True:
        m = _JS_TOKEN.search(script, pos)
        if m is None:
            break
        token = m.group()
        if token == "//":
            end = script.find("\n", m.end())
            pos = n if end < 0 else end
            continue
        if token == "/*":
            end = script.find("*/", m.end())
            if end < 0:
                break
            pos = end + 2
            continue
        body = _JS_STRING_BODY[token].match(script, m.end())
        end = body.end()  # type: ignore[union-attr]
        if end >= n or script[end] != token:
            pos = end  # not closed on its line: skip what was scanned
            continue
        raw = body.group()  # type: ignore[union-attr]
        text = _js_unescape(raw) if "\\" in raw else raw
        if run and script[run_end : m.start()].strip() == "+":
            run.append(text)
            escaped = escaped or text != raw
        else:
            if run:
                close_run()
            run = [text]
            escaped = text != raw
        run_end = pos = end + 1
    if run:
        close_run()
    for m in _FROM_CHAR_CODE.finditer(script):
        chars = []
        for number in m.group(1).split(","):
            number = number.strip()
            try:
                code = int(number, 0) if number[:2].lower() == "0x" else int(number)
            except ValueError:
                continue
            if 0 <= code <= 0x10FFFF:
                chars.append(chr(code))
        if chars:
            found.append(_SURROGATE.sub("\ufffd", "".join(chars)))
    return found


def read_html(markup: str, where: str, budget: Budget | None = None) -> Reading:
    """Every text of an HTML document a recipient could read, for the policy gate.

    * ``where``: the visible text. Tags are removed without adding spaces inside words
      (``Ali<b>ce</b>`` reads "Alice"), elements that separate words (blocks, cells, line breaks)
      become line breaks, entities are decoded. Hidden elements are left out together with their
      breaks (``Ali<span style="display:none">xyz</span>ce`` reads "Alice"): ``display:none``,
      ``visibility:hidden``, ``font-size:0``, ``opacity:0``, ``mso-hide:all``, the ``hidden``
      attribute, ``<template>``. ``<title>``, ``<textarea>``, ``<xmp>`` and ``<noscript>`` are text.
    * ``where (hidden text)``: all the text, hidden elements and ``<iframe>``/``<noembed>``/
      ``<noframes>`` fallback included, when it differs from the visible text.
    * ``where (style)``: ``<style>`` contents and style attributes, then the strings of CSS
      ``content:`` declarations, escapes decoded and adjacent strings joined.
    * ``where (script)``: ``<script>`` contents and ``on*`` handler attributes, then the string
      literals that had escapes (``\\xNN``, ``\\uNNNN``, ``\\u{...}``) decoded, ``"a" + "b"`` joined,
      ``String.fromCharCode(...)`` decoded.
    * ``where (NAME attribute)``: the values of each attribute a recipient could see or follow
      (href, title, alt, src, value, placeholder, content, data-*, ...; not style/class/id nor layout
      attributes; not data: URIs of images; text data: URIs in base64 decoded), percent-decoded when
      they contain "%" (``raw`` then keeps them as written).
    * ``where (comment)``: comments and other bogus comments (``<?...>``, ``<![CDATA[...]]>``), then
      the text of the markup inside them (Outlook renders its conditional comments).

    Markup that ends inside a comment, tag or declaration is text from its ``<`` on. Nesting deeper
    than ``Limits.max_html_depth`` is read flat. Texts over the budget's ``max_text`` are cut, and
    each cut one is reported unread.
    """
    budget = budget if budget is not None else Budget()
    reader = _GateReading(budget.limits.max_html_depth)
    _tokenize(_newlines(markup), reader)
    reader.finish()
    texts: list[Text] = []
    unread: list[Unread] = []
    for text in reader.texts(where):
        left = budget.text_left
        if len(text.text) <= left:
            budget.take_text(len(text.text))
            texts.append(text)
            continue
        budget.take_text(len(text.text))
        if left:
            texts.append(Text(text.where, text.text[:left]))
        unread.append(Unread(text.where, OVER_BUDGET))
    return Reading(tuple(texts), tuple(unread))
