"""Images: metadata text, and always an Unread for the pixels."""

from __future__ import annotations

import io
import struct
import zlib

from PIL import Image

from mailflow.mime.formats import DAMAGED_IMAGE, IMAGE_CONTENT, IMAGE_TOO_LARGE
from tests.support.documents import ADDRESS, NAME, jpeg, png
from tests.support.readers import all_text, read, text_at, unread

ARTIST, COPYRIGHT, DESCRIPTION, XP_AUTHOR, XP_COMMENT = 315, 33432, 270, 0x9C9D, 0x9C9C


def test_jpeg_exif_artist_is_read_and_the_pixels_are_not() -> None:
    # Given a JPEG whose EXIF Artist is the reporter
    data = jpeg({ARTIST: NAME, COPYRIGHT: "(c) the committee"})
    # When it is read
    reading = read(data, "photo.jpg")
    # Then the artist is a text, and the image's content is reported unread
    assert text_at(reading, "EXIF Artist in photo.jpg") == NAME
    assert text_at(reading, "EXIF Copyright in photo.jpg") == "(c) the committee"
    assert unread(reading) == {("photo.jpg", IMAGE_CONTENT)}


def test_jpeg_windows_xp_tags_and_comment() -> None:
    # Given a JPEG with XPAuthor/XPComment (UTF-16LE, as Windows Explorer writes them) and a comment
    data = jpeg(
        {XP_AUTHOR: (NAME + "\0").encode("utf-16-le"), XP_COMMENT: (ADDRESS + "\0").encode("utf-16-le")},
        comment=b"taken by A. Liddell",
    )
    # When it is read
    reading = read(data, "photo.jpg")
    # Then they are decoded
    assert text_at(reading, "EXIF XPAuthor in photo.jpg") == NAME
    assert text_at(reading, "EXIF XPComment in photo.jpg") == ADDRESS
    assert text_at(reading, "JPEG comment in photo.jpg") == "taken by A. Liddell"


def test_exif_user_comment_in_unicode() -> None:
    # Given a JPEG with a UserComment in the Exif directory, in its "UNICODE" form
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\x00" + NAME.encode("utf-16-le")
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "JPEG", exif=exif)
    # When it is read
    # Then it is decoded
    assert text_at(read(buffer.getvalue(), "p.jpg"), "EXIF UserComment in p.jpg") == NAME


def test_iptc_by_line_and_caption() -> None:
    # Given a JPEG with an IPTC block (Photoshop APP13) naming the photographer in UTF-8
    def dataset(number: int, value: bytes) -> bytes:
        return b"\x1c\x02" + bytes([number]) + struct.pack(">H", len(value)) + value

    iptc = b"\x1c\x01\x5a\x00\x03\x1b%G" + dataset(80, "Alice Liddéll".encode()) + dataset(120, b"Meetup")
    resource = b"8BIM\x04\x04\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    segment = b"Photoshop 3.0\x00" + resource
    plain = jpeg()
    data = plain[:2] + b"\xff\xed" + struct.pack(">H", len(segment) + 2) + segment + plain[2:]
    # When it is read
    reading = read(data, "p.jpg")
    # Then the by-line and the caption are read
    assert text_at(reading, "IPTC by-line in p.jpg") == "Alice Liddéll"
    assert text_at(reading, "IPTC caption in p.jpg") == "Meetup"


def test_png_text_chunks_plain_compressed_and_international() -> None:
    # Given PNGs with the name in a tEXt, a zTXt and a compressed iTXt chunk
    for data in (
        png({"Author": NAME}),
        png({"Author": NAME}, compressed=True),
        png({"Author": NAME}, compressed=True, international=True),
    ):
        # When they are read
        reading = read(data, "shot.png")
        # Then the chunk's text is read, and the pixels reported unread
        assert text_at(reading, "PNG Author in shot.png") == NAME
        assert unread(reading) == {("shot.png", IMAGE_CONTENT)}


def test_png_text_after_the_image_data_is_read() -> None:
    # Given a PNG with a tEXt chunk after IDAT (allowed; Pillow would decode pixels to see it)
    data = png()
    chunk = b"Comment\x00" + f"by {NAME}".encode("latin-1")
    text_chunk = struct.pack(">I", len(chunk)) + b"tEXt" + chunk + b"\x00\x00\x00\x00"
    end = data.rindex(b"\x00\x00\x00\x00IEND")
    # When it is read
    reading = read(data[:end] + text_chunk + data[end:], "late.png")
    # Then it is read from the file
    assert text_at(reading, "PNG Comment in late.png") == f"by {NAME}"


def test_gif_comment() -> None:
    # Given a GIF with a comment
    buffer = io.BytesIO()
    Image.new("P", (4, 4)).save(buffer, "GIF", comment=NAME.encode())
    # When it is read
    # Then the comment is read
    assert text_at(read(buffer.getvalue(), "a.gif"), "GIF comment in a.gif") == NAME


def test_xmp_packet_in_a_jpeg() -> None:
    # Given a JPEG with an XMP packet naming the creator
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator><rdf:Seq>'
        f"<rdf:li>{NAME}</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, "JPEG", xmp=xmp)
    # When it is read
    # Then the packet's text is read
    assert text_at(read(buffer.getvalue(), "p.jpg"), "XMP in p.jpg") == NAME


def test_damaged_image_and_unknown_image_format() -> None:
    # Given a JPEG cut after its first bytes, and an image type Pillow is not asked to open
    # When they are read
    # Then the damage is reported, and the pixels are never taken as read
    assert unread(read(jpeg()[:6], "cut.jpg")) == {("cut.jpg", DAMAGED_IMAGE), ("cut.jpg", IMAGE_CONTENT)}
    assert unread(read(b"\x00\x00\x00\x18ftypheic" + b"\x00" * 40, "p.heic")) == {("p.heic", IMAGE_CONTENT)}


def test_decompression_bomb_dimensions() -> None:
    # Given a PNG header declaring 100000 x 100000 pixels (Pillow's bomb check refuses it)
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    checksum = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header + checksum
    data += b"\x00\x00\x00\x00IEND\xaeB`\x82"
    # When it is read
    reading = read(data, "huge.png")
    # Then it is reported as too large, without decoding anything
    assert unread(reading) == {("huge.png", IMAGE_TOO_LARGE), ("huge.png", IMAGE_CONTENT)}
    assert all_text(reading) == ""
