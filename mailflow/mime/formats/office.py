"""Office documents: OOXML and OpenDocument packages, their flat XML forms, legacy binary files.

* OOXML (.docx/.docm/.xlsx/.xlsm/.pptx/.pptm/.vsdx/.xps...) is recognised by its content (a zip
  with "[Content_Types].xml"), never by the name of its main part: EVERY XML part is read (.xml,
  .rels, .vml), whatever its name: bodies, headers, footers, comments, footnotes, charts, drawings
  and text boxes, SmartArt data, custom XML, document properties (core, app, custom), shared
  strings and sheets, the link targets of the relationships. See :mod:`._xml` for how XML becomes
  text (a name split over runs stays whole; authors, initials and custom property names are read
  from attributes).
* OpenDocument (.odt/.ods/.odp/.odg...) is a zip with a "mimetype" entry: every XML part too,
  including the sub-documents "Object N/content.xml" (a chart in a text document), meta.xml and
  styles.xml.
* Flat XML: Flat ODF (.fodt/.fods/.fodp, root office:document), Word 2003 XML
  (``<?mso-application progid="Word.Document"?>``, root w:wordDocument) and Excel 2003 XML; their
  pictures (base64 inside the XML) go to the image reader.
* Other members of a package go back to the dispatcher, one level deeper: embedded packages
  (word/embeddings/*.docx, *.xlsx) are read the same way, media images give their metadata and an
  Unread, sound and video an Unread. Embedded binaries (oleObject*.bin, vbaProject.bin) are
  "embedded binary object"; printer settings (a DEVMODE) give their printer name.
* Not read, on purpose: thumbnails (docProps/thumbnail.*, Thumbnails/, ODF ObjectReplacements/)
  are renderings of the text and objects read elsewhere; embedded fonts are glyph shapes.
* Legacy binary Office (.doc/.xls/.ppt, an OLE compound file that is not an Outlook message):
  "legacy binary Office document", with the document properties (author, title, company...) and
  the text fragments of its main stream given to help whoever fixes the mail; a password-protected
  OOXML file (an OLE file with an EncryptedPackage) is "encrypted Office document".
"""

from __future__ import annotations

import binascii
import io
import re
import zipfile

import olefile

from mailflow.mime.charset import decode_bytes
from mailflow.mime.formats import outlook
from mailflow.mime.formats._base import (
    DAMAGED_ARCHIVE,
    DAMAGED_MSG,
    DAMAGED_OFFICE,
    EMBEDDED_BINARY,
    ENCRYPTED,
    ENCRYPTED_MEMBER,
    ENCRYPTED_OFFICE,
    LEGACY_OFFICE,
    OVER_UNPACKING,
    Context,
    base_name,
)
from mailflow.mime.formats._xml import xml_encoding, xml_text
from mailflow.mime.formats._zip import read_member, zip_name
from mailflow.mime.reading import Reading

__all__ = ["looks_flat_xml", "package_kind", "read_flat_xml", "read_ole", "read_package"]

OOXML = "OOXML"
ODF = "OpenDocument"

_XML_SUFFIXES = (".xml", ".rels", ".vml")
_NOT_READ = re.compile(
    r"(?i)(?:docProps/thumbnail\.\w+|Thumbnails/.*|ObjectReplacements/.*|(?:word|ppt|xl)/fonts/.*|Fonts/.*"
    r"|.*\.(?:odttf|fntdata)|mimetype)"
)
_FLAT_ROOT = re.compile(
    r"<\?mso-application\s+progid=\"(?:Word\.Document|Excel\.Sheet|PowerPoint\.Show)\"|<(?:w:wordDocument|office:document)\b"
    r"|<Workbook\s[^>]*urn:schemas-microsoft-com:office:spreadsheet"
)
_OLE_TEXT_STREAMS = ("WordDocument", "PowerPoint Document", "Workbook", "Book")
_UTF16_RUN = re.compile(rb"(?:[\x20-\x7e\xa0-\xff]\x00){4,}")
_BYTE_RUN = re.compile(rb"[\x20-\x7e\xc0-\xff]{6,}")
_PROPERTIES = (
    "title", "subject", "author", "keywords", "comments", "template", "last_saved_by", "category", "manager",
    "company", "content_status",
)  # fmt: skip


def package_kind(archive: zipfile.ZipFile) -> str | None:
    """OOXML or OpenDocument when the zip is one (by its content, not its name), else None."""
    names = archive.namelist()
    if "[Content_Types].xml" in names:
        return OOXML
    if "mimetype" in names:
        try:
            with archive.open("mimetype") as stream:
                if b"opendocument" in stream.read(200):
                    return ODF
        except Exception:  # an unreadable mimetype entry: the manifest below may still tell
            pass
    if "META-INF/manifest.xml" in names and "content.xml" in names:
        return ODF
    return None


def read_package(archive: zipfile.ZipFile, kind: str, where: str, ctx: Context) -> Reading:
    reading = Reading()
    for info in archive.infolist():
        name = zip_name(info)
        if info.is_dir() or _NOT_READ.fullmatch(name):
            continue
        member_where = f"{name} in {where}"
        over = ctx.member(where)
        if over is not None:
            return reading + over
        if info.flag_bits & ENCRYPTED:
            reading += Reading.not_read(member_where, ENCRYPTED_MEMBER)
            continue
        content = read_member(archive, info, member_where, ctx)
        if isinstance(content, Reading):
            reading += content
            if any(u.reason == OVER_UNPACKING for u in content.unread):
                return reading
            continue
        data, damaged = content
        reading += _part(name, data, member_where, ctx)
        if damaged:
            reading += Reading.not_read(member_where, DAMAGED_ARCHIVE)
    return reading


def _part(name: str, data: bytes, where: str, ctx: Context) -> Reading:
    lower = name.lower()
    if lower.endswith(_XML_SUFFIXES) or data.lstrip()[:5] == b"<?xml":
        return _xml(data, where, ctx)
    if lower.endswith(".bin"):
        if "printersettings" in lower:
            return ctx.text(where, _devmode_name(data))
        return Reading.not_read(where, EMBEDDED_BINARY)
    return ctx.file(data, filename=base_name(name), where=where)


def _xml(data: bytes, where: str, ctx: Context) -> Reading:
    found = xml_text(decode_bytes(data, xml_encoding(data)))
    reading = ctx.text(where, found.joined())
    for number, (name, encoded) in enumerate(found.binaries, 1):
        over = ctx.member(where)
        if over is not None:
            return reading + over
        label = base_name(name) if name else f"picture {number}"
        try:
            blob = binascii.a2b_base64(re.sub(r"\s+", "", encoded).encode("ascii", "replace"))
        except (binascii.Error, ValueError):
            reading += Reading.not_read(f"{label} in {where}", DAMAGED_OFFICE)
            continue
        reading += ctx.file(blob, filename=base_name(name) if name else None, where=f"{label} in {where}")
    return reading


def _devmode_name(data: bytes) -> str:
    """The printer name at the start of a DEVMODE structure (UTF-16LE, 32 characters)."""
    return data[:64].decode("utf-16-le", "replace").split("\x00", 1)[0]


def looks_flat_xml(head: str) -> bool:
    """Whether the start of an XML file is that of a Flat ODF, Word 2003 or Excel 2003 document."""
    return _FLAT_ROOT.search(head) is not None


def read_flat_xml(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    return _xml(data, where, ctx)


def read_ole(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    """An OLE compound file: an Outlook message, a password-protected OOXML file, or legacy Office."""
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except Exception:
        outlook_named = (name or "").lower().endswith(".msg")
        return Reading.not_read(where, DAMAGED_MSG if outlook_named else DAMAGED_OFFICE)
    with ole:
        streams = ole.listdir(streams=True, storages=True)
        if any(path[0].startswith(("__substg1.0_", "__properties_version1.0")) for path in streams):
            return outlook.read_msg(data, name, where, ctx)
        reading = _properties(ole, where, ctx)
        if ["EncryptedPackage"] in streams:
            return reading + Reading.not_read(where, ENCRYPTED_OFFICE)
        for stream in _OLE_TEXT_STREAMS:
            if [stream] in streams:
                reading += _fragments(ole, stream, where, ctx)
    return reading + Reading.not_read(where, LEGACY_OFFICE)


def _properties(ole: olefile.OleFileIO, where: str, ctx: Context) -> Reading:
    try:
        meta = ole.get_metadata()
    except Exception:  # damaged property sets: the document is reported unread anyway
        return Reading()
    codepage = getattr(meta, "codepage", None)
    charset = "utf-8" if codepage == 65001 else f"cp{codepage}" if isinstance(codepage, int) else None
    lines = []
    for attribute in _PROPERTIES:
        value = getattr(meta, attribute, None)
        if isinstance(value, bytes):
            value = decode_bytes(value.rstrip(b"\x00"), charset)
        if isinstance(value, str) and value.strip():
            lines.append(value)
    return ctx.text(f"document properties in {where}", "\n".join(lines))


def _fragments(ole: olefile.OleFileIO, stream: str, where: str, ctx: Context) -> Reading:
    """Runs of text in a legacy document's main stream (UTF-16 and 8-bit): not the document read
    to the end, but what the gate can find a name in before it holds the mail."""
    try:
        size = ole.get_size(stream)
        if not ctx.count_unpacked(size):
            return Reading.not_read(where, OVER_UNPACKING)
        data = ole.openstream(stream).read()
    except Exception:
        return Reading()
    runs = [m.group().decode("utf-16-le") for m in _UTF16_RUN.finditer(data)]
    runs += [m.group().decode("cp1252", "replace") for m in _BYTE_RUN.finditer(data)]
    return ctx.text(f"text fragments in {where}", "\n".join(runs))
