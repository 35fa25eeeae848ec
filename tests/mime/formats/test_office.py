"""Office documents: every XML part of OOXML and OpenDocument packages, flat XML forms, legacy OLE."""

from __future__ import annotations

import base64

from mailflow.mime.formats import EMBEDDED_BINARY, IMAGE_CONTENT, LEGACY_OFFICE
from tests.support.documents import (
    ADDRESS,
    NAME,
    ODF_NS,
    W,
    content_types,
    docx,
    jpeg,
    legacy_doc,
    odf,
    ooxml,
    runs,
    word_body,
    zip_of,
)
from tests.support.readers import all_text, read, text_at, unread


def test_docx_whose_main_part_is_renamed_is_read_by_content() -> None:
    # Given a .docx whose main part is word/main.xml (declared in [Content_Types].xml and the
    # package relationships), with the name split over three runs
    data = docx("word/main.xml", word_body(runs("Statement of Ali", "ce Lid", "dell")))
    # When it is read
    reading = read(data, "statement.docx")
    # Then the main part is read whatever its name, and the runs join without spaces
    assert text_at(reading, "word/main.xml in statement.docx") == f"Statement of {NAME}"
    assert reading.complete


def test_docx_sent_without_a_name_or_with_a_wrong_one_is_still_read() -> None:
    # Given the same package as application/octet-stream, named "notes.txt"
    data = docx(body=word_body(runs(NAME)))
    # When it is read
    reading = read(data, "notes.txt")
    # Then the zip magic decides, not the name
    assert NAME in all_text(reading)


def test_docx_custom_property_and_core_properties() -> None:
    # Given a .docx with the name in a custom document property and the address in the core
    # properties' lastModifiedBy
    custom = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/custom-properties" '
        'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
        '<property fmtid="{D5CDD505-2E9C-101B-9397-08002B2CF9AE}" pid="2" name="Reporter">'
        f"<vt:lpwstr>{NAME}</vt:lpwstr></property></Properties>"
    )
    core = (
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Bob</dc:creator>'
        f"<cp:lastModifiedBy>{ADDRESS}</cp:lastModifiedBy></cp:coreProperties>"
    )
    data = docx(parts={"docProps/custom.xml": custom, "docProps/core.xml": core})
    # When it is read
    reading = read(data, "report.docx")
    # Then the custom property's value and name are read, and the metadata fields stay apart
    # ("Bob" and the address are not glued into one word)
    assert text_at(reading, "docProps/custom.xml in report.docx") == f"{NAME} Reporter"
    assert text_at(reading, "docProps/core.xml in report.docx") == f"Bob {ADDRESS}"


def test_docx_comment_author_and_tracked_change_author_from_attributes() -> None:
    # Given a comment by the reporter and a tracked insertion inside a word
    comments = (
        f'<w:comments {W}><w:comment w:id="0" w:author="{NAME}" w:initials="AL">'
        "<w:p><w:r><w:t>Please check.</w:t></w:r></w:p></w:comment></w:comments>"
    )
    body = word_body(f'<w:r><w:t>Sta</w:t></w:r><w:ins w:author="{ADDRESS}"><w:r><w:t>tement</w:t></w:r></w:ins>')
    data = docx(body=body, parts={"word/comments.xml": comments})
    # When it is read
    reading = read(data, "report.docx")
    # Then the authors are read apart from the text, and the tracked insertion does not split the word
    assert text_at(reading, "word/comments.xml in report.docx") == f"Please check. {NAME} AL"
    assert text_at(reading, "word/document.xml in report.docx") == f"Statement {ADDRESS}"


def test_docx_hyperlink_target_in_the_relationships() -> None:
    # Given a mailto: link, whose target lives in the part's relationships
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId9" Type="hyperlink" Target="mailto:{ADDRESS}" TargetMode="External"/>'
        "</Relationships>"
    )
    data = docx(parts={"word/_rels/document.xml.rels": rels})
    # When it is read
    reading = read(data, "report.docx")
    # Then the target is read
    assert f"mailto:{ADDRESS}" in text_at(reading, "word/_rels/document.xml.rels in report.docx")


def test_xlsx_text_box_in_a_drawing() -> None:
    # Given a spreadsheet whose only mention of the name is a text box on a drawing
    drawing = (
        '<xdr:wsDr xmlns:xdr="http://schemas.openxmlformats.org/drawingml/2006/spreadsheetDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><xdr:twoCellAnchor><xdr:sp>'
        '<xdr:nvSpPr><xdr:cNvPr id="2" name="TextBox 1"/></xdr:nvSpPr><xdr:txBody><a:bodyPr/>'
        "<a:p><a:r><a:t>Reported by Ali</a:t></a:r><a:r><a:rPr b='1'/><a:t>ce Liddell</a:t></a:r></a:p>"
        "</xdr:txBody></xdr:sp></xdr:twoCellAnchor></xdr:wsDr>"
    )
    data = ooxml(
        {
            "xl/workbook.xml": '<workbook><sheets><sheet name="Incidents" sheetId="1"/></sheets></workbook>',
            "xl/sharedStrings.xml": "<sst><si><t>Date</t></si><si><t>Place</t></si></sst>",
            "xl/worksheets/sheet1.xml": "<worksheet><sheetData><row><c><v>0</v></c></row></sheetData></worksheet>",
            "xl/drawings/drawing1.xml": drawing,
        }
    )
    # When it is read
    reading = read(data, "log.xlsx")
    # Then the text box is read, the name whole
    assert f"Reported by {NAME}" in text_at(reading, "xl/drawings/drawing1.xml in log.xlsx")
    assert text_at(reading, "xl/sharedStrings.xml in log.xlsx") == "Date Place"
    assert "Incidents" in text_at(reading, "xl/workbook.xml in log.xlsx")


def test_pptx_smartart_data() -> None:
    # Given a presentation whose SmartArt diagram holds the name (ppt/diagrams/data1.xml)
    data_model = (
        '<dgm:dataModel xmlns:dgm="http://schemas.openxmlformats.org/drawingml/2006/diagram" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><dgm:ptLst>'
        '<dgm:pt modelId="{1}"><dgm:t><a:bodyPr/><a:p><a:r><a:t>Timeline</a:t></a:r></a:p></dgm:t></dgm:pt>'
        '<dgm:pt modelId="{2}"><dgm:t><a:bodyPr/><a:p><a:r><a:t>Alice</a:t></a:r><a:r><a:t xml:space="preserve"> '
        "Liddell</a:t></a:r></a:p></dgm:t></dgm:pt></dgm:ptLst></dgm:dataModel>"
    )
    data = ooxml(
        {
            "ppt/presentation.xml": "<p:presentation xmlns:p='p'/>",
            "ppt/slides/slide1.xml": "<p:sld xmlns:p='p'><a:p xmlns:a='a'><a:r><a:t>Agenda</a:t></a:r></a:p></p:sld>",
            "ppt/diagrams/data1.xml": data_model,
        }
    )
    # When it is read
    reading = read(data, "deck.pptx")
    # Then the diagram's points are read, each on a line of its own
    assert text_at(reading, "ppt/diagrams/data1.xml in deck.pptx") == f"Timeline {NAME}"


def test_embedded_package_media_and_binary_object() -> None:
    # Given a .docx embedding an .xlsx (with the name), a picture, an OLE object and macros
    inner = ooxml({"xl/sharedStrings.xml": f"<sst><si><t>{NAME}</t></si></sst>"})
    data = docx(
        parts={
            "word/embeddings/Microsoft_Excel_Worksheet.xlsx": inner,
            "word/media/image1.jpeg": jpeg(),
            "word/embeddings/oleObject1.bin": b"\xd0\xcf\x11\xe0" + b"\x00" * 100,
            "word/vbaProject.bin": b"\x00" * 64,
        }
    )
    # When it is read
    reading = read(data, "report.docx")
    # Then the embedded package is read recursively, and what cannot be read is reported
    inner_where = "xl/sharedStrings.xml in word/embeddings/Microsoft_Excel_Worksheet.xlsx in report.docx"
    assert text_at(reading, inner_where) == NAME
    assert unread(reading) == {
        ("word/media/image1.jpeg in report.docx", IMAGE_CONTENT),
        ("word/embeddings/oleObject1.bin in report.docx", EMBEDDED_BINARY),
        ("word/vbaProject.bin in report.docx", EMBEDDED_BINARY),
    }


def test_thumbnails_and_fonts_are_not_read() -> None:
    # Given a package with a thumbnail and an embedded font (renderings and glyphs)
    data = docx(parts={"docProps/thumbnail.jpeg": jpeg(), "word/fonts/font1.odttf": b"\x01\x02" * 50})
    # When it is read
    reading = read(data, "report.docx")
    # Then they are neither read nor reported
    assert reading.complete


def test_odt_with_a_chart_object() -> None:
    # Given a text document embedding a chart whose title is the name (Object 1/content.xml)
    content = (
        f"<office:document-content {ODF_NS}><office:body><office:text><text:p>See the chart.</text:p>"
        '<draw:frame><draw:object xlink:href="./Object 1"/></draw:frame></office:text></office:body>'
        "</office:document-content>"
    )
    chart = (
        f"<office:document-content {ODF_NS}><office:body><office:chart><chart:chart><chart:title>"
        f"<text:p>Incidents reported by {NAME}</text:p></chart:title></chart:chart></office:chart>"
        "</office:body></office:document-content>"
    )
    meta = (
        f"<office:document-meta {ODF_NS}><office:meta><meta:initial-creator>Bob</meta:initial-creator>"
        f"<dc:creator>{ADDRESS}</dc:creator></office:meta></office:document-meta>"
    )
    data = odf(
        "application/vnd.oasis.opendocument.text",
        {
            "content.xml": content,
            "meta.xml": meta,
            "Object 1/content.xml": chart,
            "Thumbnails/thumbnail.png": b"\x89PNG\r\n\x1a\n",
            "META-INF/manifest.xml": "<manifest:manifest xmlns:manifest='m'/>",
        },
    )
    # When it is read
    reading = read(data, "report.odt")
    # Then the chart's sub-document and the metadata are read
    assert text_at(reading, "Object 1/content.xml in report.odt") == f"Incidents reported by {NAME}"
    assert text_at(reading, "meta.xml in report.odt") == f"Bob {ADDRESS}"
    assert reading.complete


def test_odt_spans_and_spaces() -> None:
    # Given ODF paragraphs with a name split over spans and written with <text:s/>
    content = (
        f"<office:document-content {ODF_NS}><office:body><office:text>"
        "<text:p>By <text:span>Ali</text:span>ce<text:s/>Liddell.</text:p>"
        "</office:text></office:body></office:document-content>"
    )
    data = odf("application/vnd.oasis.opendocument.text", {"content.xml": content})
    # When it is read
    # Then the name is whole
    assert text_at(read(data, "a.odt"), "content.xml in a.odt") == f"By {NAME}."


def test_flat_odf() -> None:
    # Given a Flat ODF text document (one XML file) with the name split over spans, and a picture
    picture = base64.b64encode(jpeg()).decode()
    data = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document {ODF_NS} '
        'office:mimetype="application/vnd.oasis.opendocument.text">\n <office:body>\n  <office:text>\n'
        "   <text:p>Statement of <text:span>Ali</text:span>ce Liddell</text:p>\n"
        f"   <draw:frame><draw:image><office:binary-data>{picture}</office:binary-data></draw:image></draw:frame>\n"
        "  </office:text>\n </office:body>\n</office:document>\n"
    ).encode()
    # When it is read
    reading = read(data, "statement.fodt")
    # Then the text is read, and the picture goes to the image reader
    assert text_at(reading, "statement.fodt") == f"Statement of {NAME}"
    assert unread(reading) == {("picture 1 in statement.fodt", IMAGE_CONTENT)}


def test_word_2003_xml_with_the_name_split_over_runs() -> None:
    # Given a Word 2003 XML document saved as .doc, the name over runs with properties between
    data = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        b'<?mso-application progid="Word.Document"?>\n'
        b'<w:wordDocument xmlns:w="http://schemas.microsoft.com/office/word/2003/wordml">'
        b"<o:DocumentProperties xmlns:o='urn:schemas-microsoft-com:office:office'><o:Author>Bob</o:Author>"
        b"</o:DocumentProperties><w:body><w:p><w:r><w:t>Witness: Ali</w:t></w:r><w:r><w:rPr><w:b/></w:rPr>"
        b"<w:t>ce Lid</w:t></w:r><w:r><w:t>dell</w:t></w:r></w:p></w:body></w:wordDocument>"
    )
    # When it is read (by its content: the name says .doc)
    reading = read(data, "statement.doc")
    # Then the name is whole
    assert text_at(reading, "statement.doc") == f"Bob Witness: {NAME}"


def test_xml_in_utf16_with_an_encoding_declaration() -> None:
    # Given an OOXML part written in UTF-16 with a BOM
    part = f'<?xml version="1.0" encoding="UTF-16"?><sst><si><t>{NAME}</t></si></sst>'.encode("utf-16")
    data = ooxml({"xl/sharedStrings.xml": part})
    # When it is read
    # Then it is decoded
    assert text_at(read(data, "a.xlsx"), "xl/sharedStrings.xml in a.xlsx") == NAME


def test_entities_and_cdata_in_xml_parts() -> None:
    # Given a part with entities and a CDATA section
    data = ooxml(
        {"customXml/item1.xml": f"<r><name>&#65;lice&#x20;Liddell</name><mail><![CDATA[{ADDRESS}]]></mail></r>"}
    )
    # When it is read
    # Then both are decoded
    assert text_at(read(data, "a.docx"), "customXml/item1.xml in a.docx") == f"{NAME} {ADDRESS}"


def test_legacy_doc_is_unread_with_its_properties_and_text_fragments() -> None:
    # Given a Word 97-2003 .doc (an OLE compound file)
    data = legacy_doc(f"Statement by {NAME}", author=NAME)
    # When it is read
    reading = read(data, "statement.doc")
    # Then it is reported unread, with the author and the text fragments given to help
    assert unread(reading) == {("statement.doc", LEGACY_OFFICE)}
    assert NAME in text_at(reading, "document properties in statement.doc")
    assert f"Statement by {NAME}" in text_at(reading, "text fragments in statement.doc")


def test_plain_zip_with_content_types_like_name_is_a_package() -> None:
    # Given a zip recognised as a package only by its [Content_Types].xml, holding an odd part
    data = zip_of({"[Content_Types].xml": content_types({}), "story/part.xml": f"<x><y>{NAME}</y></x>"})
    # When it is read
    # Then the part is read as XML text (tags stripped)
    assert text_at(read(data, "a.zip"), "story/part.xml in a.zip") == NAME
