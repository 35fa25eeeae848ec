"""Archives: zip, gzip, bzip2, xz, tar; budgets, depth, bombs, encryption, formats not read."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile

from mailflow.mime.formats import (
    ARCHIVE_NOT_READ,
    DAMAGED_ARCHIVE,
    ENCRYPTED_MEMBER,
    OVER_MEMBERS,
    OVER_UNPACKING,
    TOO_DEEP,
)
from mailflow.mime.reading import Budget, Limits
from tests.support.documents import NAME, zip_of
from tests.support.readers import all_text, read, text_at, unread

STATEMENT = f"Statement by {NAME}\n"


def tar_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_zip_with_a_text_file_and_the_member_names() -> None:
    # Given a zip with a statement and a file named after the reporter
    data = zip_of({"notes.txt": STATEMENT, f"photos/{NAME}.txt": "x"})
    # When it is read
    reading = read(data, "evidence.zip")
    # Then the member is read, and the names are a text of their own
    assert text_at(reading, "notes.txt in evidence.zip") == STATEMENT.strip()
    assert NAME in text_at(reading, "file names in evidence.zip")
    assert reading.complete


def test_zip_member_names_in_a_windows_code_page() -> None:
    # Given a zip whose member name is in Windows-1252 without the UTF-8 flag
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("x.txt")
        archive.writestr(info, b"x")
    raw = buffer.getvalue().replace(b"x.txt", b"\xe9.txt")  # same length, in both headers
    # When it is read
    reading = read(raw, "a.zip")
    # Then the name reads as its maker wrote it
    assert text_at(reading, "file names in a.zip") == "é.txt"


def test_txt_gz_takes_the_member_name_from_the_header() -> None:
    # Given a gzip whose header names the original file
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="statement.txt", mode="wb", fileobj=buffer) as stream:
        stream.write(STATEMENT.encode())
    # When it is read
    reading = read(buffer.getvalue(), "upload.gz")
    # Then the text is read under the original name
    assert text_at(reading, "statement.txt in upload.gz") == STATEMENT.strip()


def test_txt_gz_without_a_name_in_the_header_uses_the_file_name() -> None:
    # Given a gzip without a name in its header
    data = gzip.compress(STATEMENT.encode(), mtime=0)
    # When it is read
    reading = read(data, "notes.txt.gz")
    # Then the name is the file's name without ".gz"
    assert text_at(reading, "notes.txt in notes.txt.gz") == STATEMENT.strip()


def test_tar_xz_and_tar_bz2() -> None:
    # Given the same tar compressed with xz and with bzip2
    tar = tar_of({"case/notes.txt": STATEMENT.encode()})
    for data, name in ((lzma.compress(tar), "case.tar.xz"), (bz2.compress(tar), "case.tar.bz2")):
        # When they are read
        reading = read(data, name)
        # Then the member of the tar inside the compressed file is read
        assert text_at(reading, f"case/notes.txt in case.tar in {name}") == STATEMENT.strip()
        assert reading.complete


def test_plain_tar_lists_names_and_reads_members() -> None:
    # Given a plain tar
    data = tar_of({"a.txt": b"first", "b.csv": f"name\n{NAME}\n".encode()})
    # When it is read
    reading = read(data, "files.tar")
    # Then every member is read and named
    assert text_at(reading, "b.csv in files.tar") == f"name {NAME}"
    assert text_at(reading, "file names in files.tar") == "a.txt b.csv"


def test_damaged_tar_after_the_first_member_is_reported() -> None:
    # Given a tar whose second header is overwritten with garbage
    data = bytearray(tar_of({"a.txt": b"first", "b.txt": STATEMENT.encode()}))
    data[1024:1100] = b"\xff" * 76
    # When it is read
    reading = read(bytes(data), "files.tar")
    # Then what was read is kept and the rest is reported
    assert text_at(reading, "a.txt in files.tar") == "first"
    assert ("files.tar", DAMAGED_ARCHIVE) in unread(reading)


def test_zip_bomb_stops_at_the_unpacking_budget_at_once() -> None:
    # Given a zip holding 200 MB of zeros (about 200 KB deflated)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("zeros.txt", "w") as member:
        chunk = b"\x00" * (1024 * 1024)
        for _ in range(200):
            member.write(chunk)
    # When it is read with the default budget (96 MiB)
    budget = Budget(Limits())
    reading = read(buffer.getvalue(), "bomb.zip", budget=budget)
    # Then the member is reported over the budget (its declared size says so before any inflating)
    assert unread(reading) == {("zeros.txt in bomb.zip", OVER_UNPACKING)}


def test_gzip_bomb_stops_after_the_budget_not_at_the_end() -> None:
    # Given a gzip of 8 MiB of zeros and a budget of 1 MiB
    data = gzip.compress(b"\x00" * (8 * 1024 * 1024))
    budget = Budget(Limits(max_unpacked=1024 * 1024))
    # When it is read
    reading = read(data, "zeros.gz", budget=budget)
    # Then it is reported, having inflated no more than the budget and a chunk
    assert unread(reading) == {("zeros.gz", OVER_UNPACKING)}
    assert budget.unpacked <= 2 * 1024 * 1024 + 1


def test_nested_archives_deeper_than_the_limit() -> None:
    # Given a chain of zips ten deep with the statement at the bottom
    data = zip_of({"notes.txt": STATEMENT})
    for level in range(10):
        data = zip_of({f"level{level}.zip": data})
    # When it is read with a maximum depth of 4
    reading = read(data, "outer.zip", limits=Limits(max_depth=4))
    # Then the level over the limit is reported, not read
    assert TOO_DEEP in {reason for _, reason in unread(reading)}
    assert NAME not in all_text(reading)


def test_members_over_the_member_budget() -> None:
    # Given a zip with more members than the budget allows
    data = zip_of({f"f{i}.txt": "x" for i in range(10)})
    # When it is read with a budget of 3 members
    reading = read(data, "many.zip", limits=Limits(max_members=3))
    # Then it stops and says so, once
    assert unread(reading) == {("many.zip", OVER_MEMBERS)}
    assert len(reading.unread) == 1


def test_encrypted_zip_member() -> None:
    # Given a zip whose member has the "encrypted" flag (ZipCrypto)
    data = bytearray(zip_of({"secret.txt": STATEMENT, "open.txt": "hello"}, compression=zipfile.ZIP_STORED))
    local = data.index(b"PK\x03\x04")
    central = data.index(b"PK\x01\x02")
    data[local + 6] |= 0x01
    data[central + 8] |= 0x01
    # When it is read
    reading = read(bytes(data), "locked.zip")
    # Then that member is reported, the other one read
    assert unread(reading) == {("secret.txt in locked.zip", ENCRYPTED_MEMBER)}
    assert text_at(reading, "open.txt in locked.zip") == "hello"


def test_formats_not_read() -> None:
    # Given a 7z archive, a RAR archive and a winmail.dat (by their magic bytes, names hiding them)
    samples = {
        "a.bin": b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 64,
        "b.dat": b"Rar!\x1a\x07\x01\x00" + b"\x00" * 64,
        "winmail.dat": b"\x78\x9f\x3e\x22" + b"\x00" * 64,
    }
    for name, data in samples.items():
        # When they are read
        # Then they are reported as not read
        assert unread(read(data, name)) == {(name, ARCHIVE_NOT_READ)}
    assert unread(read(b"whatever", "x.7z")) == {("x.7z", ARCHIVE_NOT_READ)}


def test_damaged_zip_and_truncated_gzip() -> None:
    # Given a zip cut in half and a gzip cut in half
    zipped = zip_of({"notes.txt": STATEMENT * 50})
    gzipped = gzip.compress((STATEMENT * 2000).encode())
    # When they are read
    # Then they are reported damaged (the gzip keeps what came out before the cut)
    assert unread(read(zipped[: len(zipped) // 2], "a.zip")) == {("a.zip", DAMAGED_ARCHIVE)}
    reading = read(gzipped[: len(gzipped) // 2], "b.txt.gz")
    assert unread(reading) == {("b.txt.gz", DAMAGED_ARCHIVE)}
    assert NAME in all_text(reading)
