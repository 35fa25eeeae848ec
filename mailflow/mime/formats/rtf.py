r"""RTF documents, read with striprtf.

Read: the text, with ``\'xx`` escapes decoded in the document's code page (``\ansicpgNNNN``,
Windows-1252 by default; a font's ``\fcharset`` where striprtf knows it) and ``\uN`` escapes; the
document information (``{\info{\author ...}{\title ...}...}``), annotation authors and the
revision table (the authors of tracked changes), and the targets of HYPERLINK fields (a "mailto:"
link): striprtf drops these groups as destinations that are not shown.

Not read, reported: pictures (``\pict``, ``\shppict``): "image in RTF"; embedded objects
(``\object``/``\objdata``): "embedded binary object". Raw 8-bit bytes outside escapes are decoded
in the document's code page as well.
"""

from __future__ import annotations

import codecs
import re

from striprtf.striprtf import rtf_to_text

from mailflow.mime.formats._base import EMBEDDED_BINARY, RTF_IMAGE, Context
from mailflow.mime.reading import Reading

__all__ = ["read_rtf"]

_CODEPAGE = re.compile(rb"\\ansicpg(\d{1,5})")
_INFO = re.compile(
    r"\{\\(?:\*\\)?(author|operator|title|subject|keywords|doccomm|company|manager|category|atnauthor|atnid|hlinkbase)"
    r"[ \t\r\n]?([^{}]*)\}"
)
_REVISION_TABLE = re.compile(r"\{\\\*\\revtbl\s*((?:\{[^{}]*\}\s*)*)\}")
_HYPERLINK = re.compile(r"HYPERLINK\s++(?:\\\\l\s++)?\"([^\"]{0,2048})\"")
_PICTURE = re.compile(r"\\(?:pict|shppict|nonshppict)(?![a-z])")
_OBJECT = re.compile(r"\\(?:object|objdata)(?![a-z])")


def read_rtf(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    number, codepage = _codepage(data)
    source = data.decode(codepage, "replace")
    if "\\bin" not in source:
        # One group per line: striprtf's HYPERLINK pattern backtracks along a line, and RTF
        # ignores line breaks (a "{" always ends the control word before it).
        source = source.replace("{", "\n{")
    text = rtf_to_text(source, encoding=codepage, errors="replace")
    reading = ctx.text(where, text)
    extras = [_decode(value, number) for _, value in _INFO.findall(source)]
    for table in _REVISION_TABLE.findall(source):
        extras += [_decode(entry, number) for entry in re.findall(r"\{([^{}]*)\}", table)]
    extras += _HYPERLINK.findall(source)
    reading += ctx.text(f"document information in {where}", "\n".join(e.strip(" ;") for e in extras if e.strip(" ;")))
    if _PICTURE.search(source):
        reading += Reading.not_read(where, RTF_IMAGE)
    if _OBJECT.search(source):
        reading += Reading.not_read(where, EMBEDDED_BINARY)
    return reading


def _codepage(data: bytes) -> tuple[str, str]:
    """(the number of the document's code page, its codec); 1252 when absent or unknown."""
    match = _CODEPAGE.search(data[:4096])
    if match:
        number = str(int(match.group(1)))
        name = "utf-8" if number == "65001" else f"cp{number}"
        try:
            codecs.lookup(name)
            return number, name
        except LookupError:
            pass
    return "1252", "cp1252"


def _decode(value: str, codepage: str) -> str:
    """A value from the document information, its escapes decoded as in the text."""
    return rtf_to_text("{\\rtf1\\ansi\\ansicpg" + codepage + " " + value + "}", errors="replace")
