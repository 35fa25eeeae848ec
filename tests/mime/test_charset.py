"""The charset decoder: BOMs, declarations right and wrong, UTF-16/32 without BOM, guesses."""

from __future__ import annotations

import codecs

import pytest

from mailflow.mime.charset import codec_name, decode_bytes, sniff_text, wide_codec

CSV = "name;address\r\nAlice Liddell;alice.liddell@example.net\r\n"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"])
def test_wide_text_without_bom_sent_as_octet_stream_is_text(codec: str) -> None:
    # Given a CSV exported as UTF-16/32 without a byte order mark, sent with no charset
    data = CSV.encode(codec)
    # When it is sniffed as an application/octet-stream attachment would be
    text = sniff_text(data, None)
    # Then it is read as text, with the name and address in it
    assert text == CSV
    assert wide_codec(data) == codec


def test_utf16_without_bom_of_cyrillic_text_is_recognised() -> None:
    # Given Cyrillic text in UTF-16LE without BOM (NULs only for spaces and punctuation)
    text = "Здравствуйте, мы получили сообщение от Алисы Лидделл, 3 мая."
    # When it is decoded without a declaration
    # Then the few distinct high bytes give it away
    assert decode_bytes(text.encode("utf-16-le"), None) == text


def test_utf16_labelled_latin1_is_still_utf16() -> None:
    # Given UTF-16LE bytes wrongly labelled ISO-8859-1
    # When they are decoded
    # Then the NUL pattern wins over the single-byte label
    assert decode_bytes("Alice Liddell".encode("utf-16-le"), "iso-8859-1") == "Alice Liddell"


@pytest.mark.parametrize(
    ("bom", "codec"),
    [
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
    ],
)
def test_bom_wins_over_the_declaration(bom: bytes, codec: str) -> None:
    # Given text with a byte order mark and a wrong declared charset
    data = bom + "Alice Liddéll".encode(codec)
    # When it is decoded
    # Then the BOM decides, and is not part of the text
    assert decode_bytes(data, "windows-1252") == "Alice Liddéll"


def test_declared_utf16_without_bom_takes_the_byte_order_from_the_nuls() -> None:
    # Given big-endian UTF-16 without BOM declared as plain "utf-16"
    # When it is decoded
    # Then the byte order comes from the NUL pattern
    assert decode_bytes("Alice Liddell".encode("utf-16-be"), "utf-16") == "Alice Liddell"


@pytest.mark.parametrize("label", ["iso-8859-1", "us-ascii", "windows-1252", "latin1"])
def test_mislabelled_utf8_is_read_as_utf8(label: str) -> None:
    # Given UTF-8 bytes labelled with a single-byte charset
    # When they are decoded
    # Then they are read as UTF-8 (no mojibake "LiddÃ©ll")
    assert decode_bytes("Alice Liddéll".encode(), label) == "Alice Liddéll"


def test_a_declared_charset_that_works_is_used() -> None:
    # Given Cyrillic text in KOI8-R, declared
    text = "Алиса Лидделл"
    # When it is decoded
    # Then the declaration is followed
    assert decode_bytes(text.encode("koi8-r"), "KOI8-R") == text


@pytest.mark.parametrize("label", ['"utf-8', "utf-8\\", "x-unknown", "unknown-8bit", "no-such-charset", "  ", "base64"])
def test_broken_charset_label_falls_back_to_guessing(label: str) -> None:
    # Given Windows-1252 bytes with a broken or meaningless charset label
    data = "Témoignage d'Hélène, reçu pour Alice Liddéll".encode("cp1252")
    # When they are decoded
    # Then the text is read as Windows-1252, not as a neighbouring code page ("Hélčne")
    assert decode_bytes(data, label) == "Témoignage d'Hélène, reçu pour Alice Liddéll"


@pytest.mark.parametrize("label", ["x-unknown", "unknown-8bit", "no-such-charset", "  ", "base64", "rot13", None])
def test_unusable_labels_name_no_codec(label: str | None) -> None:
    # Given a label that names no text codec
    # When it is looked up
    # Then there is none
    assert codec_name(label) is None


def test_labels_are_cleaned_and_aliased() -> None:
    # Given labels with quotes, spaces, case and names Python does not know
    # When they are looked up
    # Then they name the codec meant
    assert codec_name(' "UTF-8" ') == "utf-8"
    assert codec_name("Windows-1252") == "cp1252"
    assert codec_name("ks_c_5601-1987") == "cp949"


def test_declared_utf8_that_is_not_utf8_is_guessed() -> None:
    # Given Windows-1252 bytes declared UTF-8
    # When they are decoded
    # Then the invalid declaration does not win
    assert decode_bytes("Alice Liddéll".encode("cp1252"), "utf-8") == "Alice Liddéll"


@pytest.mark.parametrize(
    ("text", "codec"),
    [
        ("Здравствуйте, мы получили ваше сообщение о поведении участника во время встречи.", "cp1251"),  # noqa: RUF001
        ("Καλησπέρα, λάβαμε το μήνυμά σας σχετικά με τη συμπεριφορά κατά τη διάρκεια της συνάντησης.", "cp1253"),
        ("日本語のテキストです。アリス・リデルさんからの報告を受け取りました。", "shift_jis"),
        ("Dzień dobry, otrzymaliśmy zgłoszenie od pani Łucji Żółkiewskiej dotyczące spotkania w Łodzi.", "cp1250"),
    ],
)
def test_other_scripts_without_declaration_are_guessed(text: str, codec: str) -> None:
    # Given text in a legacy code page of another script, without a declaration
    # When it is decoded
    # Then charset-normalizer (or the Central European check) finds the script
    assert decode_bytes(text.encode(codec), None) == text


def test_undecodable_bytes_never_fail() -> None:
    # Given bytes that are no text at all
    data = bytes(range(256)) * 3
    # When they are decoded
    text = decode_bytes(data, "utf-8")
    # Then there is a text anyway, one character per byte at most
    assert isinstance(text, str)
    assert len(text) <= len(data)


def test_binary_is_not_sniffed_as_text() -> None:
    # Given bytes of a binary file (NULs without a UTF-16 pattern, control characters)
    # When they are sniffed
    # Then they are not text
    assert sniff_text(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64)), None) is None
    assert sniff_text(bytes(range(1, 32)) * 20, None) is None
    assert sniff_text(b"", None) is None


def test_empty_bytes_are_empty_text() -> None:
    assert decode_bytes(b"", "utf-8") == ""
