"""The text of an XML document as a person reads it (Office parts, ODF, XMP packets).

Not a parser: one linear scan from "<" to ">" that never fails, on broken XML too.

* Tags are removed without inserting anything inside a paragraph, so a name split over runs
  (``<w:r><w:t>Ali</w:t></w:r><w:r><w:t>ce</w:t></w:r>``) reads "Alice".
* A line break is put at paragraph, row, cell, line-break and tab elements of OOXML, ODF,
  DrawingML and HTML-like VML (:data:`BREAKS`), and after the closing tag of any element that held
  text unless it is a run-level element (:data:`INLINE`): metadata fields ``<dc:creator>`` and
  ``<cp:lastModifiedBy>`` end up on lines of their own, ``<w:t>`` and ``<text:span>`` do not.
* ``<text:s/>`` (ODF's space) is a space. Whitespace-only text containing a line break is
  indentation and dropped; other whitespace is kept.
* Entities are decoded (HTML's table, which covers XML's), CDATA is kept as it is.
* Attribute values that carry people's text (:data:`ATTRIBUTES`: authors, initials, names, titles,
  descriptions, link targets, prompts, custom property names...) are collected apart, in order,
  without repeats, so that they never split a word of the text.
* Comments and DOCTYPE declarations (with their entity values) are kept with the attribute values.
* Base64 content of ``<office:binary-data>`` (Flat ODF) and ``<w:binData>`` (Word 2003 XML) is
  given apart as binaries (pictures), not as text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field

__all__ = ["XmlText", "xml_encoding", "xml_text"]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


BREAKS = _names(
    "p h br cr tab tc tr si row c cell table-cell table-row covered-table-cell line-break list-item "
    "txbxContent textbox div li dt dd td th title desc pt lpwstr lpstr bstr"
)
INLINE = _names(
    "t delText instrText r ins del smartTag hyperlink fldSimple sdtContent span a s bookmark "
    "bookmark-start bookmark-end soft-page-break font b i u em strong sub sup small big ruby rt rb "
    "Font B I U Sub Sup S Span Data"
)
ATTRIBUTES = _names(
    "author initials name displayname userid descr title tooltip target href prompt prompttitle "
    "error errortitle string-value value creator alt caption label text comment instr displaytext "
    "lastmodifiedby company manager unicodestring"
)
VAL_ELEMENTS = _names("docVar alias tag placeholder listItem dropDownList comboBox")
BINARY_ELEMENTS = frozenset(("binary-data", "binData"))

_ATTRIBUTE = re.compile(r"""(?<![\w:.-])([\w:.-]++)\s*+=\s*+(?:"([^"]*+)"|'([^']*+)')""")
_NAME = re.compile(r"[\w:.-]+")
_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([\w.:-]+)["']""")


@dataclass(slots=True)
class XmlText:
    text: str
    values: list[str] = field(default_factory=list)
    binaries: list[tuple[str | None, str]] = field(default_factory=list)  # (name, base64 text)

    def joined(self) -> str:
        """The text, then the attribute values, one per line."""
        return self.text + ("\n" + "\n".join(self.values) if self.values else "")


def xml_encoding(data: bytes) -> str | None:
    """The encoding named by the XML declaration, if any."""
    match = _ENCODING.match(data[:200])
    return match.group(1).decode("ascii") if match else None


def xml_text(xml: str) -> XmlText:
    """The text of ``xml`` (see the module docstring)."""
    out: list[str] = []
    values: dict[str, None] = {}
    binaries: list[tuple[str | None, str]] = []
    pos, end = 0, len(xml)
    after_text = False
    while pos < end:
        lt = xml.find("<", pos)
        if lt < 0:
            lt = end
        if lt > pos:
            segment = xml[pos:lt]
            if segment.strip():
                out.append(_unescape(segment))
                after_text = True
            elif "\n" not in segment:
                out.append(segment)
        if lt >= end:
            break
        if xml.startswith("<![CDATA[", lt):
            close = _find(xml, "]]>", lt + 9)
            out.append(xml[lt + 9 : close])
            after_text = True
            pos = close + 3
            continue
        if xml.startswith("<!--", lt):
            close = _find(xml, "-->", lt + 4)
            _keep(values, xml[lt + 4 : close])
            pos = close + 3
            continue
        if xml.startswith("<?", lt):
            pos = _find(xml, "?>", lt + 2) + 2
            continue
        gt = _find(xml, ">", lt + 1)
        tag = xml[lt + 1 : gt]
        pos = gt + 1
        if tag.startswith("!"):  # DOCTYPE: its entity declarations may hold text
            if "[" in tag and "]" not in tag:
                gt = _find(xml, "]>", lt + 1) + 1
                tag, pos = xml[lt + 1 : gt], gt + 1
            _keep(values, tag)
            continue
        closing = tag.startswith("/")
        match = _NAME.match(tag, 1 if closing else 0)
        if match is None:  # a lone "<" in broken XML: keep it as text
            out.append(_unescape("<" + tag + ">"))
            continue
        qname = match.group()
        local = qname.rsplit(":", 1)[-1]
        if not closing:
            _attributes(tag, local, values)
        if local in BREAKS:
            out.append("\n")
        elif local == "s" and not closing:
            out.append(" ")
        elif closing and after_text and local not in INLINE:
            out.append("\n")
        if not closing and local in BINARY_ELEMENTS and not tag.endswith("/"):
            close = _find(xml, f"</{qname}", pos)
            name = next((v for k, v in _attribute_items(tag) if k.rsplit(":", 1)[-1] == "name"), None)
            binaries.append((name, xml[pos:close]))
            pos = close
        after_text = False
    return XmlText("".join(out), [v for v in values if v.strip()], binaries)


def _find(xml: str, needle: str, start: int) -> int:
    """Where ``needle`` starts, or the end of ``xml`` when it is not there (broken XML: the rest
    is taken as part of the construct, and the scan ends)."""
    found = xml.find(needle, start)
    return found if found >= 0 else len(xml)


def _unescape(text: str) -> str:
    return html.unescape(text) if "&" in text else text


def _attribute_items(tag: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2) if m.group(2) is not None else m.group(3)) for m in _ATTRIBUTE.finditer(tag)]


def _attributes(tag: str, element: str, values: dict[str, None]) -> None:
    if "=" not in tag:
        return
    for name, value in _attribute_items(tag):
        if name.startswith("xmlns"):
            continue
        local = name.rsplit(":", 1)[-1].lower()
        if local in ATTRIBUTES or (local == "val" and element in VAL_ELEMENTS):
            _keep(values, _unescape(value))


def _keep(values: dict[str, None], value: str) -> None:
    if any(c.isalpha() for c in value):
        values[value] = None
