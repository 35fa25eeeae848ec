"""Files of every format (attachments, archive members) read as text, or marked unread."""

from __future__ import annotations

import html
import io
import re
import zipfile
from collections.abc import Callable

from mailflow.mime.charset import sniff_text
from mailflow.mime.reading import Budget, Reading

NestedReader = Callable[[bytes, str | None, str, str, int], Reading]

_OFFICE_ENTRY = re.compile(r".*\.xml")
_XML_TAG = re.compile(r"<(/?)(?:[\w.-]+:)?([\w.-]+)[^>]*>")
_XML_BREAKS = frozenset(["p", "br", "cr", "tab", "tc", "tr", "si", "row", "c", "s", "line-break", "h"])


def read_file(
    data: bytes,
    *,
    filename: str | None,
    content_type: str,
    charset: str | None,
    where: str,
    budget: Budget,
    depth: int,
    nested: NestedReader | None = None,
) -> Reading:
    if data.startswith(b"PK\x03\x04"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(data))
            texts = []
            for info in archive.infolist():
                if _OFFICE_ENTRY.fullmatch(info.filename):
                    xml = archive.read(info).decode("utf-8", "replace")
                    texts.append(html.unescape(_XML_TAG.sub(lambda m: " " if m.group(2) in _XML_BREAKS else "", xml)))
            return Reading.of(where, "\n".join(texts))
        except Exception:
            return Reading.not_read(where, "damaged archive")
    text = sniff_text(data, charset)
    if text is None:
        return Reading.not_read(where, "unknown binary content")
    return Reading.of(where, text)
