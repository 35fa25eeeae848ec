"""XML to the text a person reads: runs joined, blocks apart, attributes aside, broken XML read."""

from __future__ import annotations

from mailflow.mime.formats._xml import xml_text
from tests.support.documents import NAME, squeeze


def test_runs_join_and_paragraphs_break() -> None:
    # Given two paragraphs, the first with the name over runs with properties between them
    xml = (
        "<w:body><w:p><w:r><w:t>Ali</w:t></w:r><w:proofErr/><w:r><w:rPr><w:i/></w:rPr><w:t>ce Liddell</w:t></w:r>"
        "</w:p><w:p><w:r><w:t>Second</w:t></w:r></w:p></w:body>"
    )
    # When it is read
    # Then runs join without spaces and paragraphs are separate lines
    assert xml_text(xml).text.split() == ["Alice", "Liddell", "Second"]


def test_pretty_printed_xml_indentation_is_not_text() -> None:
    # Given indented XML between elements, and a space inside a text element
    xml = "<root>\n  <title>Notes</title>\n  <w:t xml:space='preserve'> </w:t>\n  <creator>Alice</creator>\n</root>"
    # When it is read
    result = xml_text(xml)
    # Then the indentation is dropped and leaf elements stay apart
    assert squeeze(result.text) == "Notes Alice"


def test_attributes_are_read_apart_in_order_without_repeats() -> None:
    # Given an author attribute repeated and a namespace declaration
    xml = f'<c xmlns:w="urn:x" w:author="{NAME}"><p w:author="{NAME}" w:initials="AL">Hi</p></c>'
    # When it is read
    result = xml_text(xml)
    # Then each value is kept once, namespace URIs are not
    assert result.values == [NAME, "AL"]
    assert squeeze(result.joined()) == f"Hi {NAME} AL"


def test_doctype_entity_values_and_comments_are_kept() -> None:
    # Given a DOCTYPE declaring an entity with the name, used in the text, and a comment
    xml = f'<!DOCTYPE r [<!ENTITY who "{NAME}">]><r>&who;<!-- by alice --></r>'
    # When it is read
    result = xml_text(xml)
    # Then the entity's value and the comment are among the values (the entity is not expanded)
    assert any(NAME in value for value in result.values)
    assert " by alice " in result.values


def test_broken_xml_is_read_to_the_end() -> None:
    # Given XML cut inside a tag, a CDATA section and a comment
    for xml in ("<p>Alice <b", "<p><![CDATA[Alice Liddell", "<p>Alice<!-- x", "a < b and c > d", "<<<>>>"):
        # When it is read
        # Then nothing raises and the text before the damage is there
        assert isinstance(xml_text(xml).text, str)
    assert "Alice Liddell" in xml_text("<p><![CDATA[Alice Liddell").text


def test_binary_data_elements_are_given_apart() -> None:
    # Given Word 2003 XML with a picture
    xml = '<w:pict><w:binData w:name="wordml://1.png">iVBORw0KGgo=</w:binData></w:pict><w:t>After</w:t>'
    # When it is read
    result = xml_text(xml)
    # Then the base64 is not text, and is given with its name
    assert result.binaries == [("wordml://1.png", "iVBORw0KGgo=")]
    assert squeeze(result.text) == "After"
