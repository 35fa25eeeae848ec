"""PDF documents, read with pypdf.

Read: the text of every page (up to :data:`MAX_PAGES`; compressed streams, Type0/CID fonts with a
ToUnicode map as Word and LibreOffice write them), the document information dictionary (Author,
Title, Subject, Keywords, Creator, Producer and any custom key), the XMP metadata packet, XFA form
data, form fields (names, tooltips, values, options), annotations (comments and their authors,
link targets such as "mailto:", rich text), bookmark titles, and embedded files (the document's
EmbeddedFiles and file attachment annotations), which go back to the dispatcher one level deeper.

Not read, reported:

* "encrypted PDF": encrypted and not opened by the empty password (a PDF with only an owner
  password opens for anyone, so it is read).
* "damaged PDF": no %%EOF at the end (truncated: the objects written are still read, pypdf
  rebuilding the cross-reference table), or pypdf failing on a page or the whole file; whatever
  was read before is kept.
* "images in the PDF", per page: a page (or a form or annotation it draws) with an image XObject
  or an inline image. Pixels can show a name (a scan, a screenshot): the gate holds for a person.
* "too many pages in the PDF" beyond :data:`MAX_PAGES`.

Decoded page content counts against the unpacking budget; pypdf bounds its own decompression.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from typing import Any

from pypdf import PasswordType, PdfReader
from pypdf.generic import ArrayObject, DictionaryObject, IndirectObject, StreamObject

from mailflow.mime.charset import decode_bytes
from mailflow.mime.formats._base import (
    DAMAGED_PDF,
    ENCRYPTED_PDF,
    OVER_UNPACKING,
    PDF_IMAGES,
    PDF_PAGES,
    Context,
)
from mailflow.mime.formats._xml import xml_encoding, xml_text
from mailflow.mime.reading import Reading

__all__ = ["MAX_PAGES", "read_pdf"]

MAX_PAGES = 500
_MAX_OUTLINE = 5000  # bookmark titles read
_MAX_NESTING = 16  # forms inside forms looked into for images
_INLINE_IMAGE = re.compile(rb"(?:^|[\s\]>)])BI[\s/]")
_OBJECT_HEADER = re.compile(rb"(?<![0-9])([0-9]{1,10})[ \t\r\n]+[0-9]{1,5}[ \t\r\n]+obj\b")
_ANNOTATION_KEYS = ("/Contents", "/T", "/Subj", "/RC", "/TU")


def read_pdf(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    truncated = b"%%EOF" not in data[-2048:]
    try:
        reader = PdfReader(io.BytesIO(_repaired(data) if truncated else data), strict=False)
        encrypted = reader.is_encrypted
    except Exception:
        return Reading.not_read(where, DAMAGED_PDF)
    if encrypted:
        try:
            opened = reader.decrypt("") != PasswordType.NOT_DECRYPTED
        except Exception:  # an unknown security handler, a missing crypto dependency
            opened = False
        if not opened:
            return Reading.not_read(where, ENCRYPTED_PDF)
    reading = _pages(reader, where, ctx)
    for part in (_information, _xmp, _xfa, _fields, _outline, _embedded_files):
        try:
            reading += part(reader, where, ctx)
        except Exception:
            reading += Reading.not_read(where, DAMAGED_PDF)
    if truncated:
        reading += Reading.not_read(where, DAMAGED_PDF)
    return _one_damage(reading, where)


def _repaired(data: bytes) -> bytes:
    """A truncated PDF with an end pypdf can start from: a trailer whose /Size covers the objects
    written, and a startxref of 0, which makes pypdf rebuild the cross-reference table by
    scanning the objects (and find the catalog among them)."""
    highest = max((int(m.group(1)) for m in _OBJECT_HEADER.finditer(data)), default=0)
    return data + b"\ntrailer\n<< /Size %d >>\nstartxref\n0\n%%%%EOF\n" % (highest + 1)


def _pages(reader: PdfReader, where: str, ctx: Context) -> Reading:
    reading = Reading()
    try:
        pages = reader.pages
        count = len(pages)
    except Exception:
        return Reading.not_read(where, DAMAGED_PDF)
    for index in range(min(count, MAX_PAGES)):
        page_where = f"page {index + 1} in {where}"
        try:
            page = pages[index]
            contents = page.get_contents()
            raw = contents.get_data() if contents is not None else b""
            if not ctx.count_unpacked(len(raw)):
                return reading + Reading.not_read(where, OVER_UNPACKING)
            reading += ctx.text(page_where, page.extract_text())
            annotations = _annotations(page, page_where, ctx)
            reading += annotations[0]
            if _INLINE_IMAGE.search(raw) or _draws_images(page.get("/Resources"), 0, set()) or annotations[1]:
                reading += Reading.not_read(page_where, PDF_IMAGES)
        except Exception:
            reading += Reading.not_read(page_where, DAMAGED_PDF)
    if count > MAX_PAGES:
        reading += Reading.not_read(where, PDF_PAGES)
    return reading


def _draws_images(resources: Any, nesting: int, seen: set[int]) -> bool:
    """Whether ``resources`` hold an image XObject, or a form XObject that draws one."""
    resources = _resolve(resources)
    if not isinstance(resources, DictionaryObject) or nesting > _MAX_NESTING:
        return False
    xobjects = _resolve(resources.get("/XObject"))
    if not isinstance(xobjects, DictionaryObject):
        return False
    for value in xobjects.values():
        xobject = _resolve(value)
        if not isinstance(xobject, DictionaryObject) or id(xobject) in seen:
            continue
        seen.add(id(xobject))
        subtype = xobject.get("/Subtype")
        if subtype == "/Image":
            return True
        if subtype == "/Form":
            if isinstance(xobject, StreamObject) and _INLINE_IMAGE.search(xobject.get_data()):
                return True
            if _draws_images(xobject.get("/Resources"), nesting + 1, seen):
                return True
    return False


def _annotations(page: Any, where: str, ctx: Context) -> tuple[Reading, bool]:
    """(the texts and attached files of a page's annotations, whether their appearance draws an image)."""
    annotations = _resolve(page.get("/Annots"))
    if not isinstance(annotations, ArrayObject):
        return Reading(), False
    lines: list[str] = []
    reading = Reading()
    images = False
    for item in annotations:
        annotation = _resolve(item)
        if not isinstance(annotation, DictionaryObject):
            continue
        lines += [_string(annotation.get(key)) for key in _ANNOTATION_KEYS]
        action = _resolve(annotation.get("/A"))
        if isinstance(action, DictionaryObject):
            lines += [_string(action.get("/URI")), _string(action.get("/F"))]
        spec = _resolve(annotation.get("/FS"))
        if isinstance(spec, DictionaryObject):
            reading += _file_spec(spec, where, ctx)
        appearance = _resolve(annotation.get("/AP"))
        if isinstance(appearance, DictionaryObject):
            normal = _resolve(appearance.get("/N"))
            if isinstance(normal, StreamObject):
                images = images or _draws_images(normal.get("/Resources"), 0, set())
    text = ctx.text(f"annotations on {where}", "\n".join(line for line in lines if line))
    return text + reading, images


def _file_spec(spec: DictionaryObject, where: str, ctx: Context) -> Reading:
    name = _string(spec.get("/UF")) or _string(spec.get("/F")) or "attached file"
    files = _resolve(spec.get("/EF"))
    stream = _resolve(files.get("/F")) if isinstance(files, DictionaryObject) else None
    if not isinstance(stream, StreamObject):
        return ctx.text(f"attached file name on {where}", name)
    return _embedded(name, stream.get_data(), where, ctx)


def _embedded(name: str, data: bytes, where: str, ctx: Context) -> Reading:
    over = ctx.member(where)
    if over is not None:
        return over
    if not ctx.count_unpacked(len(data)):
        return Reading.not_read(where, OVER_UNPACKING)
    return ctx.text(f"attached file name in {where}", name) + ctx.file(data, filename=name, where=f"{name} in {where}")


def _information(reader: PdfReader, where: str, ctx: Context) -> Reading:
    info = reader.metadata
    if not info:
        return Reading()
    lines = [f"{str(key).lstrip('/')}: {_string(value)}" for key, value in info.items() if _string(value)]
    return ctx.text(f"document information in {where}", "\n".join(lines))


def _xmp(reader: PdfReader, where: str, ctx: Context) -> Reading:
    stream = _resolve(_resolve(reader.trailer.get("/Root")).get("/Metadata"))
    if not isinstance(stream, StreamObject):
        return Reading()
    data = stream.get_data()
    if not ctx.count_unpacked(len(data)):
        return Reading.not_read(where, OVER_UNPACKING)
    return ctx.text(f"XMP metadata in {where}", xml_text(decode_bytes(data, xml_encoding(data) or "utf-8")).joined())


def _xfa(reader: PdfReader, where: str, ctx: Context) -> Reading:
    form = _resolve(_resolve(reader.trailer.get("/Root")).get("/AcroForm"))
    if not isinstance(form, DictionaryObject):
        return Reading()
    xfa = _resolve(form.get("/XFA"))
    streams = [_resolve(x) for x in xfa] if isinstance(xfa, ArrayObject) else [xfa]
    parts = [s.get_data() for s in streams if isinstance(s, StreamObject)]
    if not ctx.count_unpacked(sum(len(p) for p in parts)):
        return Reading.not_read(where, OVER_UNPACKING)
    text = "\n".join(xml_text(decode_bytes(p, xml_encoding(p) or "utf-8")).joined() for p in parts)
    return ctx.text(f"XFA form in {where}", text)


def _fields(reader: PdfReader, where: str, ctx: Context) -> Reading:
    fields = reader.get_fields() or {}
    lines: list[str] = []
    for name, field in fields.items():
        lines.append(str(name))
        for key in ("/TU", "/V", "/DV", "/Opt"):
            lines += _strings(field.get(key))
    return ctx.text(f"form fields in {where}", "\n".join(line for line in lines if line))


def _outline(reader: PdfReader, where: str, ctx: Context) -> Reading:
    titles: list[str] = []
    stack: list[Any] = [reader.outline]
    while stack and len(titles) < _MAX_OUTLINE:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            titles.append(_string(getattr(item, "title", None)))
    return ctx.text(f"bookmarks in {where}", "\n".join(t for t in titles if t))


def _embedded_files(reader: PdfReader, where: str, ctx: Context) -> Reading:
    reading = Reading()
    for name, contents in reader.attachments.items():
        for data in contents:
            reading += _embedded(name, data, where, ctx)
    return reading


def _one_damage(reading: Reading, where: str) -> Reading:
    """At most one "damaged PDF" for the file itself (several parts may each have failed)."""
    seen = False
    unread = []
    for item in reading.unread:
        if item.where == where and item.reason == DAMAGED_PDF:
            if seen:
                continue
            seen = True
        unread.append(item)
    return Reading(reading.texts, tuple(unread))


def _resolve(value: Any) -> Any:
    return value.get_object() if isinstance(value, IndirectObject) else value


def _string(value: Any) -> str:
    value = _resolve(value)
    if value is None:
        return ""
    if isinstance(value, StreamObject):  # rich text (/RC) may be a stream
        return decode_bytes(value.get_data(), None)
    if isinstance(value, bytes):
        return decode_bytes(value, None)
    return str(value)


def _strings(value: Any) -> Iterable[str]:
    value = _resolve(value)
    if isinstance(value, ArrayObject):
        return [s for item in value for s in _strings(item)]
    return [_string(value)]
