"""PDF: page text from compressed streams, metadata, images, encryption, damage."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader, PdfWriter

from mailflow.mime.formats import DAMAGED_PDF, ENCRYPTED_PDF, PDF_IMAGES, PDF_PAGES
from mailflow.mime.formats import pdf as pdf_reader
from tests.support.documents import ADDRESS, NAME, PdfBuilder, pdf_string, text_pdf, zip_of
from tests.support.readers import all_text, read, text_at, unread


def test_compressed_text_in_a_type0_font_as_word_writes_it() -> None:
    # Given a PDF with FlateDecode content streams drawing text in a Type0/Identity-H font with a
    # ToUnicode map, the name split by a kerning adjustment
    data = text_pdf([f"Statement by {NAME}", "Second page"])
    # When it is read
    reading = read(data, "statement.pdf")
    # Then every page's text is read
    assert text_at(reading, "page 1 in statement.pdf") == f"Statement by {NAME}"
    assert text_at(reading, "page 2 in statement.pdf") == "Second page"
    assert reading.complete


def test_type1_font_text() -> None:
    # Given a PDF in a standard Type1 font with WinAnsi accents
    data = text_pdf(["Alice Liddéll wrote"], font="type1")
    # When it is read
    # Then the text is decoded
    assert text_at(read(data, "a.pdf"), "page 1 in a.pdf") == "Alice Liddéll wrote"


def test_name_only_in_the_author() -> None:
    # Given a PDF whose only mention of the name is the Author and a custom Info key
    data = text_pdf(["Nothing here"], info={"Author": NAME, "Title": "Minutes", "Reporter": ADDRESS})
    # When it is read
    reading = read(data, "minutes.pdf")
    # Then the document information is read, custom keys included
    info = text_at(reading, "document information in minutes.pdf")
    assert f"Author: {NAME}" in info
    assert f"Reporter: {ADDRESS}" in info


def test_a_page_with_an_image_is_unread() -> None:
    # Given a PDF whose second page draws an image XObject
    data = text_pdf(["Cover", "Scan attached"], image_on_page=1)
    # When it is read
    reading = read(data, "scan.pdf")
    # Then the text is read and that page is reported for its image
    assert text_at(reading, "page 2 in scan.pdf") == "Scan attached"
    assert unread(reading) == {("page 2 in scan.pdf", PDF_IMAGES)}


def test_encrypted_pdf_is_unread() -> None:
    # Given a PDF encrypted with a user password
    writer = PdfWriter(clone_from=io.BytesIO(text_pdf([f"Statement by {NAME}"])))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    # When it is read
    reading = read(buffer.getvalue(), "secret.pdf")
    # Then it is reported, with nothing read
    assert unread(reading) == {("secret.pdf", ENCRYPTED_PDF)}
    assert reading.texts == ()


def test_pdf_with_only_an_owner_password_is_read() -> None:
    # Given a PDF encrypted with an empty user password (anyone can open it)
    writer = PdfWriter(clone_from=io.BytesIO(text_pdf([f"Statement by {NAME}"])))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    # When it is read
    reading = read(buffer.getvalue(), "open.pdf")
    # Then it is read like any other
    assert NAME in all_text(reading)
    assert reading.complete


def test_truncated_pdf_keeps_what_was_read_and_says_damaged() -> None:
    # Given a PDF cut off before its cross-reference table
    whole = text_pdf([f"Statement by {NAME}", "two", "three"])
    data = whole[: whole.rindex(b"xref")]
    # When it is read
    reading = read(data, "cut.pdf")
    # Then the pages found are read and the file is reported damaged
    assert text_at(reading, "page 1 in cut.pdf") == f"Statement by {NAME}"
    assert unread(reading) == {("cut.pdf", DAMAGED_PDF)}


def test_pdf_cut_in_half_or_garbage_is_damaged_without_exception() -> None:
    # Given PDFs cut at several places, and bytes that only start like a PDF
    whole = text_pdf([f"Statement by {NAME}"] * 3)
    for size in (10, len(whole) // 3, len(whole) // 2):
        # When they are read
        reading = read(whole[:size], "cut.pdf")
        # Then they are reported damaged (never an exception, never "complete")
        assert ("cut.pdf", DAMAGED_PDF) in unread(reading)
    assert unread(read(b"%PDF-1.7\n" + b"\x00garbage" * 100, "g.pdf")) == {("g.pdf", DAMAGED_PDF)}


def test_annotations_form_fields_bookmarks_and_xmp() -> None:
    # Given a PDF with a comment by the reporter, a mailto link, a filled form field, a bookmark
    # and an XMP packet
    pdf = PdfBuilder()
    catalog, pages, page = pdf.reserve(), pdf.reserve(), pdf.reserve()
    content = pdf.stream(b"BT /F1 12 Tf 72 700 Td (Form) Tj ET")
    font = pdf.add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    comment = pdf.add(
        b"<< /Type /Annot /Subtype /Text /Rect [0 0 10 10] /T " + pdf_string(NAME) + b" /Contents (Seen) >>"
    )
    link = pdf.add(
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 10 10] /A << /S /URI /URI (mailto:%s) >> >>" % ADDRESS.encode()
    )
    field = pdf.add(
        b"<< /FT /Tx /T (witness) /TU (Witness name) /V " + pdf_string("Liddell, Alice") + b" /Rect [0 0 1 1] >>"
    )
    outline, entry = pdf.reserve(), pdf.reserve()
    pdf.set(outline, b"<< /Type /Outlines /First %d 0 R /Last %d 0 R /Count 1 >>" % (entry, entry))
    pdf.set(entry, b"<< /Title (Call with Alice Liddell) /Parent %d 0 R >>" % outline)
    xmp = pdf.stream(
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/">'
        b"<dc:creator><rdf:Seq><rdf:li>Ali&#99;e Liddell</rdf:li></rdf:Seq></dc:creator></rdf:Description></rdf:RDF>"
        b'</x:xmpmeta><?xpacket end="w"?>',
        b" /Type /Metadata /Subtype /XML",
        compress=False,
    )
    pdf.set(
        page,
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
        b"/Resources << /Font << /F1 %d 0 R >> >> /Annots [%d 0 R %d 0 R %d 0 R] >>"
        % (pages, content, font, comment, link, field),
    )
    pdf.set(pages, b"<< /Type /Pages /Kids [%d 0 R] /Count 1 >>" % page)
    pdf.set(
        catalog,
        b"<< /Type /Catalog /Pages %d 0 R /Outlines %d 0 R /Metadata %d 0 R /AcroForm << /Fields [%d 0 R] >> >>"
        % (pages, outline, xmp, field),
    )
    # When it is read
    reading = read(pdf.build(catalog), "form.pdf")
    # Then each of them is read
    annotations = text_at(reading, "annotations on page 1 in form.pdf")
    assert NAME in annotations
    assert f"mailto:{ADDRESS}" in annotations
    assert "Liddell, Alice" in text_at(reading, "form fields in form.pdf")
    assert text_at(reading, "bookmarks in form.pdf") == "Call with Alice Liddell"
    assert NAME in text_at(reading, "XMP metadata in form.pdf")
    assert reading.complete


def test_embedded_file_is_read_one_level_deeper() -> None:
    # Given a PDF with an embedded zip holding a text file with the name
    writer = PdfWriter(clone_from=io.BytesIO(text_pdf(["Cover"])))
    writer.add_attachment("evidence.zip", zip_of({"notes.txt": f"Statement by {NAME}"}))
    buffer = io.BytesIO()
    writer.write(buffer)
    # When it is read
    reading = read(buffer.getvalue(), "cover.pdf")
    # Then the file inside the zip inside the PDF is read
    assert text_at(reading, "notes.txt in evidence.zip in cover.pdf") == f"Statement by {NAME}"
    assert PdfReader(io.BytesIO(buffer.getvalue())).attachments


def test_too_many_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a PDF with more pages than the reader reads
    monkeypatch.setattr(pdf_reader, "MAX_PAGES", 2)
    data = text_pdf(["one", "two", f"three {NAME}"])
    # When it is read
    reading = read(data, "long.pdf")
    # Then the pages over the cap are reported
    assert unread(reading) == {("long.pdf", PDF_PAGES)}
    assert NAME not in all_text(reading)
