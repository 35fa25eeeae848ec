"""Readers of the files a message can carry: one entry point, :func:`read_file`.

:func:`read_file` reads a file that is not a MIME part (an attachment's decoded bytes, a member of
an archive, a file embedded in a document) whatever its format, choosing the reader by the file's
first bytes, then its name's extension, then its declared content type (a PDF named "notes.txt" is
a PDF; a Word 2003 XML or an HTML file saved as ".doc" is read as what it is). What is the
caller's business goes to ``nested``: an HTML file (content type "text/html"), an email message or
an MHTML archive (both "message/rfc822", both being MIME messages), with the file's own depth;
without ``nested`` they are read as text. ``nested`` must not give those bytes back to
:func:`read_file` at the same depth (that would come back to it).

Every reader is a pure function of the bytes: no database, no network, no logging of content.
Nothing in a file makes it raise: an exception from a library is reported as the Unread "could
not be read: <exception class>". What a reader does not read to the end is an Unread with a fixed
reason (the constants below). ``where`` of what is inside a file is "<inner> in <where>":
"page 2 in report.pdf", "word/document.xml in report.docx", "notes.txt in evidence.zip",
"EXIF Artist in photo.jpg".

The libraries' own loggers (pypdf, extract-msg, olefile) may quote a file's bytes in their
warnings: they are silenced here (set to above CRITICAL) since the readers report through the
Reading instead.
"""

from __future__ import annotations

import codecs
import logging
import re
from collections.abc import Callable

from mailflow.mime.charset import codec_name, decode_bytes, sniff_text, wide_codec
from mailflow.mime.formats import archive, image, office, outlook, pdf, rtf, text, vcard
from mailflow.mime.formats._base import (
    ARCHIVE_NOT_READ,
    DAMAGED_ARCHIVE,
    DAMAGED_IMAGE,
    DAMAGED_MSG,
    DAMAGED_OFFICE,
    DAMAGED_PDF,
    EMBEDDED_BINARY,
    ENCRYPTED_MEMBER,
    ENCRYPTED_OFFICE,
    ENCRYPTED_PDF,
    IMAGE_CONTENT,
    IMAGE_TOO_LARGE,
    LEGACY_OFFICE,
    OVER_MEMBERS,
    OVER_TEXT,
    OVER_UNPACKING,
    PDF_IMAGES,
    PDF_PAGES,
    RTF_IMAGE,
    SOUND_OR_VIDEO,
    TOO_DEEP,
    UNKNOWN_BINARY,
    VCARD_IMAGE,
    Context,
    NestedReader,
)
from mailflow.mime.reading import Budget, Reading

__all__ = [
    "ARCHIVE_NOT_READ",
    "DAMAGED_ARCHIVE",
    "DAMAGED_IMAGE",
    "DAMAGED_MSG",
    "DAMAGED_OFFICE",
    "DAMAGED_PDF",
    "EMAIL",
    "EMBEDDED_BINARY",
    "ENCRYPTED_MEMBER",
    "ENCRYPTED_OFFICE",
    "ENCRYPTED_PDF",
    "HTML",
    "IMAGE_CONTENT",
    "IMAGE_TOO_LARGE",
    "LEGACY_OFFICE",
    "OVER_MEMBERS",
    "OVER_TEXT",
    "OVER_UNPACKING",
    "PDF_IMAGES",
    "PDF_PAGES",
    "RTF_IMAGE",
    "SOUND_OR_VIDEO",
    "TOO_DEEP",
    "UNKNOWN_BINARY",
    "VCARD_IMAGE",
    "NestedReader",
    "kind_of",
    "read_file",
]

HTML = "text/html"  # content type given to ``nested`` for an HTML file
EMAIL = "message/rfc822"  # content type given to ``nested`` for an email message or MHTML archive

for _logger in ("pypdf", "extract_msg", "olefile", "RTFDE", "compressed_rtf"):
    logging.getLogger(_logger).setLevel(logging.CRITICAL + 1)

Reader = Callable[[bytes, str | None, str, Context], Reading]


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
    """Everything readable in ``data`` (a file at nesting ``depth``), and what is not read."""
    if not budget.deeper(depth):
        return Reading.not_read(where, TOO_DEEP)
    if not data:
        return Reading()
    ctx = Context(budget, depth, nested or _as_text(budget), read_file, charset)
    try:
        kind = kind_of(data, filename, content_type, charset)
        if kind in (HTML, EMAIL):
            return ctx.nested(data, filename, kind, where, depth)
        return _READERS[kind](data, filename, where, ctx)
    except Exception as exc:  # a reader never raises on content: say what failed, not what was in it
        return Reading.not_read(where, f"could not be read: {type(exc).__name__}")


def kind_of(data: bytes, filename: str | None, content_type: str, charset: str | None = None) -> str:
    """The reader for ``data``: by magic bytes, then by a look at the text, then by the filename's
    extension, then by the content type; "text" (text or unknown binary) when nothing says."""
    kind = _by_magic(data)
    if kind is not None:
        return kind
    kind = _by_text(_head(data[:2048], charset))
    if kind is not None:
        return kind
    extension = _extension(filename)
    if extension in _EXTENSIONS:
        return _EXTENSIONS[extension]
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype in _CONTENT_TYPES:
        return _CONTENT_TYPES[ctype]
    major = ctype.split("/", 1)[0]
    if major == "image":
        return "image"
    if major in ("audio", "video"):
        return "media"
    return "text"


def _head(head: bytes, charset: str | None) -> str:
    """The start of a file as text, for its markers ("<html", "BEGIN:VCARD", "From:"): decoded
    when it is UTF-16/32 (BOM, NUL pattern or declaration), else byte for byte (no guessing)."""
    codec = codec_name(charset)
    if (
        head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
        or wide_codec(head)
        or (codec is not None and codec.startswith(("utf-16", "utf-32")))
    ):
        return decode_bytes(head, charset)
    return head.decode("latin-1")


def _as_text(budget: Budget) -> NestedReader:
    """The fallback for ``nested``: HTML and messages read as plain text."""

    def read(data: bytes, filename: str | None, content_type: str, where: str, depth: int) -> Reading:
        ctx = Context(budget, depth, read, read_file)
        found = sniff_text(data, None)
        return ctx.text(where, found) if found is not None else Reading.not_read(where, UNKNOWN_BINARY)

    return read


def _not_read_archive(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    return Reading.not_read(where, ARCHIVE_NOT_READ)


_READERS: dict[str, Reader] = {
    "pdf": pdf.read_pdf,
    "zip": archive.read_zip,
    "gzip": archive.read_gzip,
    "bzip2": archive.read_bzip2,
    "xz": archive.read_xz,
    "tar": archive.read_tar,
    "archive not read": _not_read_archive,
    "ole": office.read_ole,
    "msg": outlook.read_msg,
    "flat office": office.read_flat_xml,
    "rtf": rtf.read_rtf,
    "vcard": vcard.read_vcard,
    "image": image.read_image,
    "media": text.read_media,
    "text": text.read_text,
}

_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"PK\x03\x04", 0, "zip"),
    (b"PK\x05\x06", 0, "zip"),
    (b"PK\x07\x08", 0, "zip"),
    (b"\x1f\x8b", 0, "gzip"),
    (b"BZh", 0, "bzip2"),
    (b"\xfd7zXZ\x00", 0, "xz"),
    (b"ustar", 257, "tar"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "ole"),
    (b"{\\rtf", 0, "rtf"),
    (b"7z\xbc\xaf\x27\x1c", 0, "archive not read"),
    (b"Rar!\x1a\x07", 0, "archive not read"),
    (b"MSCF\x00\x00\x00\x00", 0, "archive not read"),
    (b"\x28\xb5\x2f\xfd", 0, "archive not read"),  # zstd
    (b"\x1f\x9d", 0, "archive not read"),  # compress (.Z)
    (b"\x60\xea", 0, "archive not read"),  # ARJ
    (b"!<arch>\n", 0, "archive not read"),  # ar, .deb
    (b"070701", 0, "archive not read"),  # cpio
    (b"070702", 0, "archive not read"),
    (b"070707", 0, "archive not read"),
    (b"xar!", 0, "archive not read"),
    (b"\x78\x9f\x3e\x22", 0, "archive not read"),  # TNEF (winmail.dat)
    (b"CD001", 0x8001, "archive not read"),  # ISO 9660
    (b"\xff\xd8\xff", 0, "image"),
    (b"\x89PNG\r\n\x1a\n", 0, "image"),
    (b"GIF87a", 0, "image"),
    (b"GIF89a", 0, "image"),
    (b"II*\x00", 0, "image"),
    (b"MM\x00*", 0, "image"),
    (b"8BPS", 0, "image"),
    (b"\x00\x00\x00\x0cjP  ", 0, "image"),  # JPEG 2000
    (b"\xff\x4f\xff\x51", 0, "image"),
    (b"\xd7\xcd\xc6\x9a", 0, "image"),  # WMF
    (b" EMF", 40, "image"),
    (b"ID3", 0, "media"),
    (b"fLaC", 0, "media"),
    (b"OggS", 0, "media"),
    (b"\x1aE\xdf\xa3", 0, "media"),  # Matroska, WebM
    (b"#!AMR", 0, "media"),
)
_FTYP_IMAGES = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis")
_LZH = re.compile(rb"-l[hz][0-9a-z ]-")
_EMAIL_HEADER = re.compile(
    r"(?im)^(?:received|return-path|from|to|cc|subject|date|message-id|mime-version|content-type|delivered-to"
    r"|reply-to|sender|x-[\w-]+):"
)
_HEADER_LINE = re.compile(r"[!-9;-~]+:")


def _by_magic(data: bytes) -> str | None:
    for magic, offset, kind in _MAGIC:
        if data.startswith(magic, offset):
            return kind
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP",):
        return "image"
    if data[:4] == b"RIFF" and data[8:12] in (b"WAVE", b"AVI "):
        return "media"
    if data[4:8] == b"ftyp":
        return "image" if data[8:12] in _FTYP_IMAGES else "media"
    if data[:4] == b"FORM" and data[8:12] in (b"AIFF", b"AIFC"):
        return "media"
    if _LZH.match(data, 2):
        return "archive not read"
    return None


def _by_text(head: str) -> str | None:
    """What the start of a text file says it is: vCard/iCalendar, a flat Office XML document,
    HTML, an email message."""
    stripped = head.lstrip("\ufeff \t\r\n")
    lower = stripped[:1024].lower()
    if vcard.looks_vcard(stripped):
        return "vcard"
    if lower.startswith("<"):
        if office.looks_flat_xml(stripped):
            return "flat office"
        if lower.startswith(("<!doctype html", "<html", "<head", "<body")) or (
            lower.startswith(("<?xml", "<!--", "<!doctype")) and "<html" in lower
        ):
            return HTML
        return None
    return EMAIL if _looks_like_email(stripped) else None


def _looks_like_email(head: str) -> bool:
    """A header block: a first line "Name:" (or an mbox "From " line) and two known header fields
    before the first empty line."""
    lines = head.split("\n", 40)
    if lines and lines[0].startswith("From "):
        lines = lines[1:]
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    block = []
    for line in lines:
        if not line.strip():
            break
        block.append(line)
    return len(_EMAIL_HEADER.findall("\n".join(block))) >= 2


def _extension(filename: str | None) -> str:
    if not filename:
        return ""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1].lower().strip()
    return name.rsplit(".", 1)[-1] if "." in name else ""


def _extensions(kind: str, names: str) -> dict[str, str]:
    return dict.fromkeys(names.split(), kind)


_EXTENSIONS: dict[str, str] = {
    **_extensions("pdf", "pdf"),
    **_extensions(
        "zip",
        "zip docx docm dotx dotm xlsx xlsm xltx xltm xlam pptx pptm potx potm ppsx ppsm vsdx vsdm xps oxps "
        "odt ott ods ots odp otp odg otg odf odb epub jar",
    ),
    **_extensions("gzip", "gz tgz gzip"),
    **_extensions("bzip2", "bz2 tbz2 tbz"),
    **_extensions("xz", "xz txz lzma tlz"),
    **_extensions("tar", "tar"),
    **_extensions("archive not read", "7z rar cab zst tzst z arj lzh lha cpio iso dmg xar ace"),
    **_extensions("ole", "doc dot xls xlt xla ppt pot pps"),
    **_extensions("msg", "msg"),
    **_extensions("flat office", "fodt fods fodp fodg"),
    **_extensions("rtf", "rtf"),
    **_extensions("vcard", "vcf vcard ics ifb vcs"),
    **_extensions(HTML, "html htm xhtml shtml"),
    **_extensions(EMAIL, "eml mht mhtml"),
    **_extensions("image", "jpg jpeg jpe png gif tif tiff webp bmp ico heic heif avif emf wmf psd jp2"),
    **_extensions("media", "mp3 m4a wav flac ogg oga opus aac amr mp4 m4v mov avi mkv webm wmv 3gp"),
}
_CONTENT_TYPES: dict[str, str] = {
    "application/pdf": "pdf",
    "application/zip": "zip",
    "application/x-zip-compressed": "zip",
    "application/gzip": "gzip",
    "application/x-gzip": "gzip",
    "application/x-bzip2": "bzip2",
    "application/x-xz": "xz",
    "application/x-tar": "tar",
    "application/x-7z-compressed": "archive not read",
    "application/x-rar-compressed": "archive not read",
    "application/vnd.rar": "archive not read",
    "application/ms-tnef": "archive not read",
    "application/vnd.ms-tnef": "archive not read",
    "application/vnd.ms-outlook": "msg",
    "application/msword": "ole",
    "application/vnd.ms-excel": "ole",
    "application/vnd.ms-powerpoint": "ole",
    "application/rtf": "rtf",
    "text/rtf": "rtf",
    "text/vcard": "vcard",
    "text/x-vcard": "vcard",
    "text/directory": "vcard",
    "text/calendar": "vcard",
    "text/html": HTML,
    "application/xhtml+xml": HTML,
    "message/rfc822": EMAIL,
    "message/global": EMAIL,
    "multipart/related": EMAIL,
    "application/x-mimearchive": EMAIL,
}
