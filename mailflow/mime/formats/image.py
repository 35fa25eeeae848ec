"""Images: the text of their metadata, and always an Unread for their pixels.

Read: EXIF (every text tag of the main and Exif directories: Artist, Copyright, ImageDescription,
CameraOwnerName...; XPAuthor/XPComment/XPTitle/XPSubject/XPKeywords in UTF-16LE; UserComment in
ASCII, Unicode or JIS), IPTC (by-line, caption, keywords, credit, every dataset of record 2), the
XMP packet, JPEG and GIF comments, PNG tEXt/zTXt/iTXt chunks (read from the file itself, also
after the image data, where Pillow would have to decode the pixels to get them) and PNG eXIf.

Not read: the pixels. A picture can show a name (a screenshot, a scanned letter), so every image is
reported "image content cannot be read" and the gate holds the mail for a person to look. Pillow
only opens the file (headers and metadata) and never decodes the image; an image too large for
Pillow's bomb check and a damaged file are reported as such. Formats Pillow is not asked to open
(anything but the common ones below) give the Unread alone.
"""

from __future__ import annotations

import contextlib
import io
import zlib

from PIL import ExifTags, Image, IptcImagePlugin, UnidentifiedImageError

from mailflow.mime.charset import decode_bytes
from mailflow.mime.formats._base import DAMAGED_IMAGE, IMAGE_CONTENT, IMAGE_TOO_LARGE, OVER_UNPACKING, Context
from mailflow.mime.formats._xml import xml_text
from mailflow.mime.reading import Reading

__all__ = ["read_image"]

FORMATS = ("JPEG", "PNG", "GIF", "TIFF", "WEBP", "BMP", "ICO", "PSD", "JPEG2000")  # JPEG opens MPO too
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

_EXIF_IFD = 0x8769
_USER_COMMENT = 0x9286
_XP_TAGS = {0x9C9B: "XPTitle", 0x9C9C: "XPComment", 0x9C9D: "XPAuthor", 0x9C9E: "XPKeywords", 0x9C9F: "XPSubject"}
_IPTC = {
    5: "object name",
    25: "keywords",
    40: "special instructions",
    80: "by-line",
    85: "by-line title",
    90: "city",
    95: "province/state",
    101: "country",
    103: "transmission reference",
    105: "headline",
    110: "credit",
    115: "source",
    116: "copyright notice",
    118: "contact",
    120: "caption",
    122: "caption writer",
}


def read_image(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    reading = _png_chunks(data, where, ctx) if data.startswith(PNG_MAGIC) else Reading()
    Image.init()  # registers every plugin, so that all of FORMATS are known (once)
    try:
        image = Image.open(io.BytesIO(data), formats=FORMATS)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return reading + Reading.not_read(where, IMAGE_TOO_LARGE) + Reading.not_read(where, IMAGE_CONTENT)
    except UnidentifiedImageError:
        return reading + Reading.not_read(where, IMAGE_CONTENT)
    except Exception:  # Pillow raises many kinds of errors on a damaged header
        return reading + Reading.not_read(where, DAMAGED_IMAGE) + Reading.not_read(where, IMAGE_CONTENT)
    with image:
        try:
            reading += _metadata(image, where, ctx)
        except Exception:  # damaged metadata: what was read is kept by _metadata's parts
            reading += Reading.not_read(where, DAMAGED_IMAGE)
    return reading + Reading.not_read(where, IMAGE_CONTENT)


def _metadata(image: Image.Image, where: str, ctx: Context) -> Reading:
    if image.format == "PNG":  # read from its chunks (_png_chunks): getexif() would load PNG pixels
        return Reading()
    reading = _exif(image.getexif(), where, ctx)
    comment = image.info.get("comment")
    if isinstance(comment, bytes | str):
        text = decode_bytes(comment, None) if isinstance(comment, bytes) else comment
        reading += ctx.text(f"{image.format} comment in {where}", text)
    xmp = image.info.get("xmp")
    if isinstance(xmp, bytes | str):
        xml = decode_bytes(xmp, "utf-8") if isinstance(xmp, bytes) else xmp
        reading += ctx.text(f"XMP in {where}", xml_text(xml).joined())
    return reading + _iptc(image, where, ctx)


def _exif(exif: Image.Exif, where: str, ctx: Context) -> Reading:
    reading = Reading()
    entries = list(exif.items())
    with contextlib.suppress(Exception):  # a damaged Exif directory: the main one is still read
        entries += list(exif.get_ifd(_EXIF_IFD).items())
    for tag, value in entries:
        label = _XP_TAGS.get(tag) or ExifTags.TAGS.get(tag, f"tag {tag}")
        text = _exif_value(tag, value)
        if text:
            reading += ctx.text(f"EXIF {label} in {where}", text)
    return reading


def _exif_value(tag: int, value: object) -> str | None:
    if tag in _XP_TAGS:
        raw = bytes(value) if isinstance(value, tuple | list) else value
        return raw.decode("utf-16-le", "replace").rstrip("\x00") if isinstance(raw, bytes) else None
    if tag == _USER_COMMENT and isinstance(value, bytes):
        code, body = value[:8], value[8:]
        if code.startswith(b"UNICODE"):
            return decode_bytes(body, "utf-16").rstrip("\x00")
        if code.startswith(b"JIS"):
            return decode_bytes(body, "shift_jis").rstrip("\x00")
        return decode_bytes(body, None).rstrip("\x00")
    if isinstance(value, str):
        return value.rstrip("\x00")
    return None


def _iptc(image: Image.Image, where: str, ctx: Context) -> Reading:
    if image.format not in ("JPEG", "TIFF", "MPO"):
        return Reading()
    info = IptcImagePlugin.getiptcinfo(image)  # type: ignore[arg-type]
    if not info:
        return Reading()
    charset = "utf-8" if info.get((1, 90)) in (b"\x1b%G", [b"\x1b%G"]) else None
    reading = Reading()
    for (record, dataset), value in info.items():
        if record != 2 or dataset == 0:
            continue
        values = value if isinstance(value, list) else [value]
        text = "\n".join(decode_bytes(v, charset) for v in values)
        reading += ctx.text(f"IPTC {_IPTC.get(dataset, f'2:{dataset}')} in {where}", text)
    return reading


def _png_chunks(data: bytes, where: str, ctx: Context) -> Reading:
    """The text chunks (tEXt, zTXt, iTXt, the XMP packet) and eXIf of a PNG file, read from the file."""
    reading = Reading()
    pos = len(PNG_MAGIC)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if len(body) < length:
            return reading + Reading.not_read(where, DAMAGED_IMAGE)
        if kind == b"IEND":
            break
        if kind == b"eXIf":
            exif = Image.Exif()
            exif.load(body)
            reading += _exif(exif, where, ctx)
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            try:
                key, text = _png_text(kind, body, ctx)
            except zlib.error:
                reading += Reading.not_read(where, DAMAGED_IMAGE)
                continue
            if text is None:
                return reading + Reading.not_read(where, OVER_UNPACKING)
            if key == "XML:com.adobe.xmp":
                reading += ctx.text(f"XMP in {where}", xml_text(text).joined())
            else:
                reading += ctx.text(f"PNG {key} in {where}", text)
    return reading


def _png_text(kind: bytes, body: bytes, ctx: Context) -> tuple[str, str | None]:
    """(keyword, text) of a PNG text chunk; text None when it is over the unpacking budget."""
    key, _, rest = body.partition(b"\x00")
    keyword = key.decode("latin-1")
    if kind == b"tEXt":
        return keyword, rest.decode("latin-1")
    if kind == b"zTXt":
        raw = _inflate(rest[1:], ctx)
        return keyword, None if raw is None else raw.decode("latin-1")
    compressed = rest[:1] == b"\x01"
    _language, _, rest = rest[2:].partition(b"\x00")
    translated, _, text = rest.partition(b"\x00")
    raw = _inflate(text, ctx) if compressed else text
    if raw is None:
        return keyword, None
    words = translated.decode("utf-8", "replace")
    label = f"{keyword} ({words})" if words and words != keyword else keyword
    return label, raw.decode("utf-8", "replace")


def _inflate(data: bytes, ctx: Context) -> bytes | None:
    raw = zlib.decompressobj().decompress(data, ctx.budget.unpack_left + 1)
    if not ctx.count_unpacked(len(raw)):
        return None
    return raw
