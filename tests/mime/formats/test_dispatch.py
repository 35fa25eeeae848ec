"""The dispatcher: choosing a reader, text files, nested readers, budgets, and never raising."""

from __future__ import annotations

import gzip

import pytest

from mailflow.mime import formats
from mailflow.mime.formats import (
    EMAIL,
    HTML,
    IMAGE_CONTENT,
    OVER_TEXT,
    SOUND_OR_VIDEO,
    TOO_DEEP,
    UNKNOWN_BINARY,
    kind_of,
    read_file,
)
from mailflow.mime.reading import Budget, Limits, Reading
from tests.support.documents import ADDRESS, NAME, text_pdf, zip_of
from tests.support.readers import all_text, read, text_at, unread

CSV = f"name;address\r\n{NAME};{ADDRESS}\r\n"


class Nested:
    """A caller's reader of HTML and messages that records what it was given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str | None, str, str, int]] = []

    def __call__(self, data: bytes, filename: str | None, content_type: str, where: str, depth: int) -> Reading:
        self.calls.append((filename, content_type, where, depth))
        return Reading.of(where, data.decode("utf-8", "replace"))


def test_utf16_csv_without_bom_sent_as_octet_stream() -> None:
    # Given a CSV in UTF-16LE without BOM, as application/octet-stream without charset
    data = CSV.encode("utf-16-le")
    # When it is read
    reading = read(data, "export.csv", "application/octet-stream")
    # Then it is text, with the name and address
    assert text_at(reading, "export.csv") == f"name;address {NAME};{ADDRESS}"
    assert reading.complete


def test_text_in_a_declared_charset() -> None:
    # Given a text file in Windows-1252 with its charset declared
    # When it is read
    reading = read("Alice Liddéll".encode("cp1252"), "a.txt", "text/plain", charset="windows-1252")
    # Then the declaration is used
    assert text_at(reading, "a.txt") == "Alice Liddéll"


def test_unknown_binary_is_unread() -> None:
    # Given bytes of no known format
    # When they are read
    # Then they are reported, not passed
    assert unread(read(bytes(range(256)) * 4, "blob.bin")) == {("blob.bin", UNKNOWN_BINARY)}


def test_empty_file_is_read_completely() -> None:
    reading = read(b"", "empty.txt")
    assert reading == Reading()


def test_magic_wins_over_the_name() -> None:
    # Given a PDF named "notes.txt" and declared text/plain
    data = text_pdf([f"Statement by {NAME}"])
    # When it is read
    # Then it is read as a PDF
    assert text_at(read(data, "notes.txt", "text/plain"), "page 1 in notes.txt") == f"Statement by {NAME}"
    assert kind_of(data, "notes.txt", "text/plain") == "pdf"


def test_kind_by_extension_then_content_type() -> None:
    # Given files with no telling bytes
    # When their kind is chosen
    # Then the extension decides, then the content type, then text
    assert kind_of(b"garbage", "photo.JPG", "application/octet-stream") == "image"
    assert kind_of(b"garbage", None, "image/heic") == "image"
    assert kind_of(b"garbage", None, "video/mp4") == "media"
    assert kind_of(b"plain words", None, "application/octet-stream") == "text"
    assert kind_of(b"<!DOCTYPE html><p>x", "a.txt", "text/plain") == HTML
    assert kind_of(b"From: a@b.example\nSubject: x\n\nbody", "saved.txt", "text/plain") == EMAIL


def test_html_and_messages_go_to_nested() -> None:
    # Given a zip with an HTML page and a saved message, and the caller's nested reader
    eml = f"Return-Path: <{ADDRESS}>\nFrom: {NAME} <{ADDRESS}>\nSubject: hi\n\nbody\n"
    data = zip_of({"page.htm": f"<html><body>{NAME}</body></html>", "mail.eml": eml})
    nested = Nested()
    # When it is read
    reading = read(data, "saved.zip", nested=nested)
    # Then both are given to the caller with their content type, one level deeper
    assert nested.calls == [
        ("page.htm", HTML, "page.htm in saved.zip", 2),
        ("mail.eml", EMAIL, "mail.eml in saved.zip", 2),
    ]
    assert NAME in all_text(reading)


def test_without_nested_html_is_read_as_text() -> None:
    # Given an HTML file and no nested reader
    # When it is read
    reading = read(f"<html><body>{NAME}</body></html>".encode(), "page.html")
    # Then its text (markup and all) is read
    assert NAME in text_at(reading, "page.html")


def test_depth_over_the_limit_is_not_read() -> None:
    # Given a file at a depth over the limit
    # When it is read
    reading = read_file(
        CSV.encode(),
        filename="a.csv",
        content_type="text/csv",
        charset=None,
        where="a.csv",
        budget=Budget(Limits(max_depth=2)),
        depth=3,
    )
    # Then it is reported, not read
    assert unread(reading) == {("a.csv", TOO_DEEP)}


def test_text_over_the_text_budget_is_cut_and_reported() -> None:
    # Given a budget of 20 characters of text
    # When a longer text file is read
    reading = read(((NAME + " ") * 10).encode(), "long.txt", limits=Limits(max_text=20))
    # Then 20 characters are kept and the rest is reported
    assert sum(len(t.text) for t in reading.texts) == 20
    assert unread(reading) == {("long.txt", OVER_TEXT)}


def test_a_reader_that_raises_is_reported_with_the_exception_class(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a reader that fails on some content
    def broken(data: bytes, name: str | None, where: str, ctx: object) -> Reading:
        raise ZeroDivisionError("content must never appear in a reason")

    monkeypatch.setitem(formats._READERS, "text", broken)
    # When a file reaches it
    reading = read(b"plain text", "a.txt")
    # Then the dispatcher reports it with a fixed reason
    assert unread(reading) == {("a.txt", "could not be read: ZeroDivisionError")}


def test_svg_with_a_raster_image_and_sound() -> None:
    # Given an SVG drawing a raster image and an audio file
    svg = f'<svg xmlns="http://www.w3.org/2000/svg"><text>{NAME}</text><image href="data:image/png;base64,AA"/></svg>'
    # When they are read
    reading = read(svg.encode(), "drawing.svg")
    # Then the SVG's text is read and its image reported; the sound is reported
    assert NAME in text_at(reading, "drawing.svg")
    assert unread(reading) == {("drawing.svg", IMAGE_CONTENT)}
    assert unread(read(b"ID3\x04\x00" + b"\x00" * 100, "voice.mp3")) == {("voice.mp3", SOUND_OR_VIDEO)}


def test_budget_is_shared_across_nested_files() -> None:
    # Given one budget for a message with two gzipped attachments
    budget = Budget(Limits(max_unpacked=1000))
    first = gzip.compress(b"a" * 800)
    # When both are read with the same budget
    read(first, "one.txt.gz", budget=budget)
    reading = read(first, "two.txt.gz", budget=budget)
    # Then the second is over what is left
    assert unread(reading) == {("two.txt.gz", "over the unpacking budget")}
