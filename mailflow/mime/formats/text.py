"""Plain text-like files (CSV, TXT, JSON, XML of no known kind, source code, SVG...) and what is left.

Text is whatever :func:`mailflow.mime.charset.sniff_text` takes for text, in any charset (UTF-16
CSV without BOM included); it is given whole, markup and all, and markup (XML of no known kind)
also as the text of its elements, joined as a reader sees it. An SVG that draws a raster image
(``<image>``) also says "image content cannot be read". Bytes that are not text are "unknown
binary content": nothing is known to be in them, so the gate cannot say they are clean. Sound and
video are "sound or video content cannot be read".
"""

from __future__ import annotations

import re

from mailflow.mime.charset import sniff_text
from mailflow.mime.formats._base import IMAGE_CONTENT, SOUND_OR_VIDEO, UNKNOWN_BINARY, Context
from mailflow.mime.formats._xml import xml_text
from mailflow.mime.reading import Reading

__all__ = ["read_media", "read_text"]

_SVG_IMAGE = re.compile(r"<(?:svg:)?image\b", re.IGNORECASE)
_MARKUP = re.compile(r"\s*<(?:\?xml\b|[A-Za-z_][\w.:-]*[\s>/])")


def read_text(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    text = sniff_text(data, ctx.charset)
    if text is None:
        return Reading.not_read(where, UNKNOWN_BINARY)
    reading = ctx.text(where, text)
    if _MARKUP.match(text):  # XML of no known kind: also its text, runs joined ("Ja</w:t>...<w:t>ne")
        reading += ctx.text(f"{where} (text of its markup)", xml_text(text).joined())
    if "<svg" in text[:4096].lower() and _SVG_IMAGE.search(text):
        reading += Reading.not_read(where, IMAGE_CONTENT)
    return reading


def read_media(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    return Reading.not_read(where, SOUND_OR_VIDEO)
