"""Documents built in code for the readers' tests: Office packages, PDFs, images, OLE files.

Nothing here is read from disk. PDFs are written object by object (content streams compressed
with FlateDecode, Type1 and Type0/CID fonts as Word writes them); OLE compound files (Outlook
.msg, legacy .doc) with extract-msg's own OLE writer.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Mapping

import compressed_rtf
from extract_msg.ole_writer import OleWriter
from PIL import Image
from PIL.PngImagePlugin import PngInfo

NAME = "Alice Liddell"
ADDRESS = "alice.liddell@example.net"


def squeeze(text: str) -> str:
    """Whitespace runs as one space: what the matcher does with them."""
    return " ".join(text.split())


# --- zip-based packages --------------------------------------------------------------------------


def zip_of(members: Mapping[str, str | bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content.encode() if isinstance(content, str) else content)
    return buffer.getvalue()


def content_types(overrides: Mapping[str, str]) -> str:
    parts = "".join(f'<Override PartName="/{name}" ContentType="{ctype}"/>' for name, ctype in overrides.items())
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f"{parts}</Types>"
    )


def package_rels(main: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        f'officeDocument" Target="{main}"/></Relationships>'
    )


W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def word_body(*paragraphs: str) -> str:
    """A WordprocessingML document; each paragraph is given as its runs' XML."""
    body = "".join(f"<w:p>{runs}</w:p>" for runs in paragraphs)
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {W}><w:body>{body}</w:body></w:document>'
    )


def runs(*texts: str) -> str:
    """Runs with a property each, as Word writes them after an edit: the text split over runs."""
    return "".join(
        f'<w:r><w:rPr><w:b w:val="{i % 2}"/></w:rPr><w:t xml:space="preserve">{t}</w:t></w:r>'
        for i, t in enumerate(texts)
    )


def docx(
    main_part: str = "word/document.xml", body: str | None = None, parts: Mapping[str, str | bytes] | None = None
) -> bytes:
    """A .docx whose main part is ``main_part``, with more ``parts``."""
    members: dict[str, str | bytes] = {
        "[Content_Types].xml": content_types(
            {main_part: "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"}
        ),
        "_rels/.rels": package_rels(main_part),
        main_part: body or word_body(runs("Nothing to see here.")),
    }
    members.update(parts or {})
    return zip_of(members)


def ooxml(parts: Mapping[str, str | bytes]) -> bytes:
    """An OOXML package of ``parts`` (with a [Content_Types].xml)."""
    return zip_of({"[Content_Types].xml": content_types({}), **parts})


def odf(mimetype: str, parts: Mapping[str, str | bytes]) -> bytes:
    """An OpenDocument package: "mimetype" first and stored, as the specification wants."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", mimetype, compress_type=zipfile.ZIP_STORED)
        for name, content in parts.items():
            archive.writestr(name, content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:chart="urn:oasis:names:tc:opendocument:xmlns:chart:1.0" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"'
)


# --- PDF -----------------------------------------------------------------------------------------


class PdfBuilder:
    """A PDF written object by object, with a correct cross-reference table."""

    def __init__(self) -> None:
        self.objects: list[bytes] = []

    def add(self, body: bytes) -> int:
        self.objects.append(body)
        return len(self.objects)

    def stream(self, data: bytes, extra: bytes = b"", *, compress: bool = True) -> int:
        if compress:
            data = zlib.compress(data)
            extra += b" /Filter /FlateDecode"
        return self.add(b"<< /Length %d%s >>\nstream\n" % (len(data), extra) + data + b"\nendstream")

    def reserve(self) -> int:
        return self.add(b"null")

    def set(self, number: int, body: bytes) -> None:
        self.objects[number - 1] = body

    def build(self, root: int, info: int | None = None) -> bytes:
        out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(self.objects, 1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        trailer = b"/Size %d /Root %d 0 R" % (len(self.objects) + 1, root)
        if info is not None:
            trailer += b" /Info %d 0 R" % info
        out += b"trailer\n<< " + trailer + b" >>\nstartxref\n%d\n%%%%EOF\n" % xref
        return bytes(out)


def pdf_string(text: str) -> bytes:
    """A PDF text string (UTF-16BE with BOM, hex) for the Info dictionary and the like."""
    return b"<FEFF" + text.encode("utf-16-be").hex().upper().encode() + b">"


def type0_font(pdf: PdfBuilder, chars: str) -> int:
    """A Type0 font with Identity-H encoding and a ToUnicode map, glyph ids as TrueType orders
    them (space = 3): what Word's "Save as PDF" writes for Calibri."""
    entries = b"".join(b"<%04X> <%04X>\n" % (ord(c) - 29, ord(c)) for c in sorted(set(chars)))
    cmap = (
        b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
        b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n"
        b"%d beginbfchar\n" % len(set(chars)) + entries + b"endbfchar\n"
        b"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
    )
    to_unicode = pdf.stream(cmap)
    descriptor = pdf.add(
        b"<< /Type /FontDescriptor /FontName /ABCDEE+Calibri /Flags 32 /FontBBox [-503 -250 1240 750] "
        b"/ItalicAngle 0 /Ascent 750 /Descent -250 /CapHeight 632 /StemV 52 >>"
    )
    cid_font = pdf.add(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /ABCDEE+Calibri "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        b"/FontDescriptor %d 0 R /DW 500 /CIDToGIDMap /Identity >>" % descriptor
    )
    return pdf.add(
        b"<< /Type /Font /Subtype /Type0 /BaseFont /ABCDEE+Calibri /Encoding /Identity-H "
        b"/DescendantFonts [%d 0 R] /ToUnicode %d 0 R >>" % (cid_font, to_unicode)
    )


def glyphs(text: str) -> bytes:
    """``text`` as a TJ array of Identity-H glyph ids, split in two with a kerning adjustment."""
    half = len(text) // 2
    first, second = (b"".join(b"%04X" % (ord(c) - 29) for c in part) for part in (text[:half], text[half:]))
    return b"[<" + first + b"> -12 <" + second + b">] TJ"


def text_pdf(
    pages: list[str],
    *,
    font: str = "type0",
    info: Mapping[str, str] | None = None,
    image_on_page: int | None = None,
) -> bytes:
    """A PDF with one line of text per page (compressed content streams)."""
    pdf = PdfBuilder()
    catalog = pdf.reserve()
    page_tree = pdf.reserve()
    if font == "type0":
        font_object = type0_font(pdf, "".join(pages) or " ")
    else:
        font_object = pdf.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    image = None
    if image_on_page is not None:
        image = pdf.stream(b"\x80" * 4, b" /Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray")
    kids = []
    for number, line in enumerate(pages):
        shown = glyphs(line) if font == "type0" else b"(" + line.encode("cp1252") + b") Tj"
        content = b"BT /F1 11 Tf 72 720 Td " + shown + b" ET"
        xobjects = b""
        if image is not None and number == image_on_page:
            content += b"\nq 20 0 0 20 72 600 cm /Im1 Do Q"
            xobjects = b" /XObject << /Im1 %d 0 R >>" % image
        stream = pdf.stream(content)
        kids.append(
            pdf.add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
                b"/Resources << /Font << /F1 %d 0 R >>%s >> >>" % (page_tree, stream, font_object, xobjects)
            )
        )
    pdf.set(
        page_tree,
        b"<< /Type /Pages /Kids [" + b" ".join(b"%d 0 R" % k for k in kids) + b"] /Count %d >>" % len(kids),
    )
    pdf.set(catalog, b"<< /Type /Catalog /Pages %d 0 R >>" % page_tree)
    info_object = None
    if info:
        entries = b" ".join(b"/" + key.encode() + b" " + pdf_string(value) for key, value in info.items())
        info_object = pdf.add(b"<< " + entries + b" >>")
    return pdf.build(catalog, info_object)


# --- images --------------------------------------------------------------------------------------


def jpeg(exif: Mapping[int, str | bytes] | None = None, comment: bytes | None = None) -> bytes:
    buffer = io.BytesIO()
    picture = Image.new("RGB", (8, 8), "white")
    options: dict[str, object] = {}
    if exif:
        data = Image.Exif()
        for tag, value in exif.items():
            data[tag] = value
        options["exif"] = data
    if comment:
        options["comment"] = comment
    picture.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def png(texts: Mapping[str, str] | None = None, *, compressed: bool = False, international: bool = False) -> bytes:
    buffer = io.BytesIO()
    info = PngInfo()
    for key, value in (texts or {}).items():
        if international:
            info.add_itxt(key, value, lang="en", tkey=key, zip=compressed)
        else:
            info.add_text(key, value, zip=compressed)
    Image.new("L", (4, 4)).save(buffer, "PNG", pnginfo=info)
    return buffer.getvalue()


# --- OLE compound files ------------------------------------------------------------------------


def _utf16(text: str) -> bytes:
    return text.encode("utf-16-le")


def _properties(header: bytes, entries: list[tuple[int, bytes]]) -> bytes:
    """A MAPI __properties_version1.0 stream: fixed-length properties (16 bytes each)."""
    return header + b"".join(struct.pack("<II", tag, 0x6) + value.ljust(8, b"\x00") for tag, value in entries)


def _message_streams(writer: OleWriter, prefix: str, fields: Mapping[str, str], *, top: bool, attachments: int) -> None:
    for property_id, value in fields.items():
        writer.addEntry(f"{prefix}__substg1.0_{property_id}001F", _utf16(value))
    counts = struct.pack("<IIII", 1, attachments, 1, attachments)
    header = b"\x00" * 8 + counts + (b"\x00" * 8 if top else b"")
    writer.addEntry(f"{prefix}__properties_version1.0", _properties(header, []))


def outlook_msg(
    fields: Mapping[str, str],
    *,
    recipient: tuple[str, str] | None = None,
    html_body: bytes | None = None,
    rtf_body: bytes | None = None,
    attachments: Mapping[str, bytes] | None = None,
    embedded: Mapping[str, str] | None = None,
) -> bytes:
    """An Outlook .msg. ``fields`` maps MAPI property ids to strings ("0037": subject, "1000": body,
    "0C1A": sender name...); ``embedded`` is a message attached to this one (its fields)."""
    writer = OleWriter()
    writer.addEntry("__nameid_version1.0", storage=True)
    for stream in ("00020102", "00030102", "00040102"):
        writer.addEntry(f"__nameid_version1.0/__substg1.0_{stream}", b"")
    all_attachments = dict(attachments or {})
    count = len(all_attachments) + (1 if embedded else 0)
    _message_streams(writer, "", {"001A": "IPM.Note", **fields}, top=True, attachments=count)
    if html_body is not None:
        writer.addEntry("__substg1.0_10130102", html_body)
    if rtf_body is not None:
        writer.addEntry("__substg1.0_10090102", compressed_rtf.compress(rtf_body, compressed=True))
    if recipient is not None:
        storage = "__recip_version1.0_#00000000"
        writer.addEntry(storage, storage=True)
        writer.addEntry(f"{storage}/__substg1.0_3001001F", _utf16(recipient[0]))
        writer.addEntry(f"{storage}/__substg1.0_3003001F", _utf16(recipient[1]))
        writer.addEntry(f"{storage}/__properties_version1.0", _properties(b"\x00" * 8, []))
    for index, (name, data) in enumerate(all_attachments.items()):
        storage = f"__attach_version1.0_#{index:08X}"
        writer.addEntry(storage, storage=True)
        writer.addEntry(f"{storage}/__substg1.0_3707001F", _utf16(name))
        writer.addEntry(f"{storage}/__substg1.0_37010102", data)
        method = [(0x37050003, struct.pack("<I", 1))]
        writer.addEntry(f"{storage}/__properties_version1.0", _properties(b"\x00" * 8, method))
    if embedded:
        storage = f"__attach_version1.0_#{len(all_attachments):08X}"
        writer.addEntry(storage, storage=True)
        writer.addEntry(f"{storage}/__substg1.0_3707001F", _utf16("forwarded.msg"))
        writer.addEntry(
            f"{storage}/__properties_version1.0", _properties(b"\x00" * 8, [(0x37050003, struct.pack("<I", 5))])
        )
        inner = f"{storage}/__substg1.0_3701000D"
        writer.addEntry(inner, storage=True)
        _message_streams(writer, f"{inner}/", {"001A": "IPM.Note", **embedded}, top=False, attachments=0)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


FMTID_SUMMARY = bytes.fromhex("E0859FF2F94F6810AB9108002B27B3D9")


def summary_information(author: str, title: str) -> bytes:
    """A \\x05SummaryInformation property set: code page 1252, title (2) and author (4)."""

    def lpstr(text: str) -> bytes:
        raw = text.encode("cp1252") + b"\x00"
        raw += b"\x00" * (-len(raw) % 4)
        return struct.pack("<II", 0x1E, len(text) + 1) + raw

    values = [(1, struct.pack("<IhH", 0x02, 1252, 0)), (2, lpstr(title)), (4, lpstr(author))]
    offset = 8 + 8 * len(values)
    table, body = b"", b""
    for property_id, value in values:
        table += struct.pack("<II", property_id, offset + len(body))
        body += value
    section = struct.pack("<II", 8 + len(table) + len(body), len(values)) + table + body
    header = struct.pack("<HHI", 0xFFFE, 0, 0x00020006) + b"\x00" * 16 + struct.pack("<I", 1)
    return header + FMTID_SUMMARY + struct.pack("<I", 48) + section


def legacy_doc(text: str, author: str) -> bytes:
    """An OLE file as Word 97-2003 writes one (the streams' names and properties; the WordDocument
    stream holds the text as UTF-16 without the real FIB and piece table)."""
    writer = OleWriter()
    writer.addEntry("WordDocument", b"\xec\xa5" + b"\x00" * 510 + _utf16(text) + b"\x00" * 4096)
    writer.addEntry("1Table", b"\x00" * 4096)
    writer.addEntry("\x05SummaryInformation", summary_information(author, "Statement"))
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()
