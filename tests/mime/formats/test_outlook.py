"""Outlook .msg files built with an OLE writer: properties, bodies, attachments, embedded messages."""

from __future__ import annotations

from mailflow.mime.formats import DAMAGED_MSG, EMAIL, HTML, LEGACY_OFFICE
from mailflow.mime.reading import Reading
from tests.support.documents import ADDRESS, NAME, outlook_msg, zip_of
from tests.support.readers import all_text, read, text_at, unread

SUBJECT, BODY, SENDER_NAME, SENDER_ADDRESS, DISPLAY_TO = "0037", "1000", "0C1A", "0C1F", "0E04"


def test_msg_subject_sender_recipients_and_body() -> None:
    # Given an Outlook message from the reporter, to a committee member
    data = outlook_msg(
        {
            SUBJECT: "Follow-up",
            BODY: "What happened on Friday ...",
            SENDER_NAME: NAME,
            SENDER_ADDRESS: ADDRESS,
            DISPLAY_TO: "Bob Member",
        },
        recipient=("Bob Member", "bob@example.org"),
    )
    # When it is read
    reading = read(data, "report.msg")
    # Then every string property is read, labelled
    assert text_at(reading, "sender name in report.msg") == NAME
    assert text_at(reading, "sender address in report.msg") == ADDRESS
    assert text_at(reading, "subject in report.msg") == "Follow-up"
    assert text_at(reading, "plain text body in report.msg") == "What happened on Friday ..."
    assert text_at(reading, "recipient address in report.msg") == "bob@example.org"
    assert reading.complete


def test_msg_attachments_are_read_one_level_deeper() -> None:
    # Given a message with a text attachment named after the reporter and a zip
    data = outlook_msg(
        {SUBJECT: "Files"},
        attachments={f"{NAME}.txt": b"statement", "evidence.zip": zip_of({"notes.txt": f"by {ADDRESS}"})},
    )
    # When it is read
    reading = read(data, "files.msg")
    # Then the attachment names and contents are read
    assert NAME in text_at(reading, "attachment names in files.msg")
    assert text_at(reading, f"{NAME}.txt in files.msg") == "statement"
    assert text_at(reading, "notes.txt in evidence.zip in files.msg") == f"by {ADDRESS}"


def test_embedded_message_is_read_recursively() -> None:
    # Given a message forwarding another message written by the reporter
    data = outlook_msg({SUBJECT: "Fwd"}, embedded={SUBJECT: "Original", SENDER_NAME: NAME, BODY: "inner text"})
    # When it is read
    reading = read(data, "fwd.msg")
    # Then the embedded message's properties are read
    assert text_at(reading, "sender name in forwarded.msg in fwd.msg") == NAME
    assert text_at(reading, "plain text body in forwarded.msg in fwd.msg") == "inner text"


def test_html_body_goes_to_nested_as_html() -> None:
    # Given a message with an HTML body, and a caller's reader of HTML
    seen: list[tuple[str, str, int]] = []

    def nested(data: bytes, filename: str | None, content_type: str, where: str, depth: int) -> Reading:
        seen.append((content_type, where, depth))
        return Reading.of(where, data.decode())

    data = outlook_msg({SUBJECT: "Hi"}, html_body=f"<p>Dear {NAME}</p>".encode())
    # When it is read
    reading = read(data, "mail.msg", nested=nested)
    # Then the HTML body is given to the caller, one level deeper
    assert seen == [(HTML, "HTML body in mail.msg", 2)]
    assert NAME in text_at(reading, "HTML body in mail.msg")


def test_rtf_body_is_read_when_there_is_no_other_body() -> None:
    # Given a message whose only body is compressed RTF (as Outlook stores rich text)
    data = outlook_msg({SUBJECT: "Notes"}, rtf_body=rb"{\rtf1\ansi\ansicpg1252 Met Alice Lidd\'e9ll today\par}")
    # When it is read
    reading = read(data, "notes.msg")
    # Then the RTF body is decompressed and read as RTF
    assert text_at(reading, "RTF body in notes.msg") == "Met Alice Liddéll today"


def test_damaged_msg() -> None:
    # Given a .msg cut short, and one too short to be an OLE file at all
    data = outlook_msg({SUBJECT: "x", BODY: f"by {NAME}"})
    # When they are read
    # Then they are reported (an OLE file without its streams is read as legacy Office)
    assert unread(read(data[:600], "cut.msg")) == {("cut.msg", DAMAGED_MSG)}
    assert unread(read(data[: len(data) // 2], "half.msg")) <= {
        ("half.msg", DAMAGED_MSG),
        ("half.msg", LEGACY_OFFICE),
    }
    assert not read(data[: len(data) // 2], "half.msg").complete


def test_eml_attachment_of_a_msg_goes_to_nested_as_email() -> None:
    # Given a message with an .eml attachment
    eml = f"From: {NAME} <{ADDRESS}>\nTo: bob@example.org\nSubject: hi\n\nbody\n".encode()
    data = outlook_msg({SUBJECT: "Fwd"}, attachments={"original.eml": eml})
    seen: list[str] = []

    def nested(data: bytes, filename: str | None, content_type: str, where: str, depth: int) -> Reading:
        seen.append(content_type)
        return Reading.of(where, data.decode())

    # When it is read
    reading = read(data, "fwd.msg", nested=nested)
    # Then the message goes to the caller
    assert seen == [EMAIL]
    assert ADDRESS in all_text(reading)
