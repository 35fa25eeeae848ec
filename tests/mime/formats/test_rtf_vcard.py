"""RTF (escapes in the document's code page, document information) and vCard/iCalendar."""

from __future__ import annotations

import base64

from mailflow.mime.formats import EMBEDDED_BINARY, IMAGE_CONTENT, RTF_IMAGE, VCARD_IMAGE
from tests.support.documents import ADDRESS, NAME, jpeg
from tests.support.readers import read, text_at, unread


def test_rtf_hex_escapes_in_the_default_code_page() -> None:
    # Given an RTF with accents written as \'xx escapes (Windows-1252)
    data = rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0 Calibri;}}\f0 Statement by Alice Lidd\'e9ll\par}"
    # When it is read
    # Then the escapes are decoded
    assert text_at(read(data, "s.rtf"), "s.rtf") == "Statement by Alice Liddéll"


def test_rtf_other_code_page_and_unicode_escapes() -> None:
    # Given an RTF in Windows-1251 with \'xx escapes, and \uN escapes with their fallback character
    cyrillic = "".join(f"\\'{b:02x}" for b in "Алиса".encode("cp1251"))
    unicode = r"\u1051?\u1080?\u1076?\u1076?\u1077?\u1083?\u1083?"
    data = (r"{\rtf1\ansi\ansicpg1251 " + cyrillic + " " + unicode + r"\par}").encode()
    # When it is read
    # Then both decode to the same alphabet
    assert text_at(read(data, "s.rtf"), "s.rtf") == "Алиса Лидделл"


def test_rtf_information_annotation_authors_revisions_and_links() -> None:
    # Given an RTF whose author, comment author, revision author and a mailto link name the reporter
    data = (
        r"{\rtf1\ansi{\info{\author Alice Lidd\'e9ll}{\title Notes}}"
        r"{\*\revtbl {Unknown;}{Bob Member;}}"
        r"Text{\*\atnid AL}{\*\atnauthor " + NAME + r"}{\*\annotation seen}"
        r'{\field{\*\fldinst{HYPERLINK "mailto:' + ADDRESS + r'"}}{\fldrslt{write}}}\par}'
    ).encode()
    # When it is read
    reading = read(data, "s.rtf")
    # Then they are read from the groups striprtf leaves out
    information = text_at(reading, "document information in s.rtf")
    assert "Alice Liddéll" in information
    assert NAME in information
    assert "Bob Member" in information
    assert f"mailto:{ADDRESS}" in information


def test_rtf_pictures_and_objects_are_unread() -> None:
    # Given an RTF with a picture and an embedded object
    data = rb"{\rtf1 Hello {\pict\pngblip 89504e47}{\object\objemb{\*\objdata 0105}}\par}"
    # When it is read
    # Then both are reported
    assert unread(read(data, "s.rtf")) == {("s.rtf", RTF_IMAGE), ("s.rtf", EMBEDDED_BINARY)}


def test_vcard_21_quoted_printable_with_soft_line_breaks() -> None:
    # Given a vCard 2.1 whose name is quoted-printable UTF-8, broken over lines by soft breaks
    data = (
        "BEGIN:VCARD\r\nVERSION:2.1\r\n"
        "N;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Lidd=C3=A9ll;Al=\r\nice;;;\r\n"
        "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Alice Lidd=\r\n=C3=A9ll\r\n"
        "EMAIL;INTERNET:alice.liddell@example.net\r\nEND:VCARD\r\n"
    ).encode("ascii")
    # When it is read
    reading = read(data, "contact.vcf")
    # Then the values are decoded and joined across the soft breaks
    text = text_at(reading, "contact.vcf")
    assert "FN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:Alice Liddéll" in text
    assert "Liddéll;Alice" in text
    assert ADDRESS in text


def test_vcard_30_folding_escapes_and_base64_text() -> None:
    # Given a vCard 3.0 with a folded line, escaped commas and a base64 NOTE
    note = base64.b64encode(f"Reported by {NAME}".encode()).decode()
    data = (f"BEGIN:VCARD\nVERSION:3.0\nFN:Liddell\\, Ali\n ce\nNOTE;ENCODING=b:{note}\nEND:VCARD\n").encode()
    # When it is read
    text = text_at(read(data, "c.vcf"), "c.vcf")
    # Then the line is unfolded, the escape undone and the note decoded
    assert "FN:Liddell, Alice" in text
    assert f"NOTE;ENCODING=b:Reported by {NAME}" in text


def test_vcard_photo_goes_to_the_image_reader() -> None:
    # Given a vCard 2.1 with an inline base64 JPEG whose EXIF names the reporter, and a broken LOGO
    photo = base64.b64encode(jpeg({315: NAME})).decode()
    lines = "\r\n ".join(photo[i : i + 72] for i in range(0, len(photo), 72))
    data = (
        f"BEGIN:VCARD\r\nVERSION:2.1\r\nFN:Someone\r\nPHOTO;ENCODING=BASE64;JPEG:\r\n {lines}\r\n\r\n"
        "LOGO;ENCODING=BASE64;TYPE=PNG:!!!!\r\nEND:VCARD\r\n"
    ).encode()
    # When it is read
    reading = read(data, "c.vcf")
    # Then the photo's metadata is read and its pixels reported; the broken logo is reported
    assert text_at(reading, "EXIF Artist in PHOTO in c.vcf") == NAME
    assert unread(reading) == {("PHOTO in c.vcf", IMAGE_CONTENT), ("LOGO in c.vcf", VCARD_IMAGE)}


def test_icalendar_attendee_common_name_and_binary_attachment() -> None:
    # Given an invitation with the reporter as attendee (CN parameter) and an inline attachment
    attachment = base64.b64encode(f"Agenda for {NAME}".encode()).decode()
    data = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:Meeting\r\n"
        f'ATTENDEE;CN="Liddell, Alice":mailto:{ADDRESS}\r\n'
        f"ATTACH;FMTTYPE=text/plain;ENCODING=BASE64;VALUE=BINARY:{attachment}\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()
    # When it is read (as text/calendar without a name)
    reading = read(data, None, "text/calendar", where="invite")
    # Then the parameter and the attachment are read
    assert f'ATTENDEE;CN="Liddell, Alice":mailto:{ADDRESS}' in text_at(reading, "invite")
    assert text_at(reading, "ATTACH in invite") == f"Agenda for {NAME}"
