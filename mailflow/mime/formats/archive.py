"""Archives: zip, gzip, bzip2, xz/lzma and tar (plain, or inside one of the compressors).

Every member is read as a file of its own (back through the dispatcher, one level deeper, so an
archive in an archive is bounded by the depth and the budget), and the members' names are a text
of their own ("file names in evidence.zip"): a recipient sees them when opening the archive.
Decompression is always read with a limit: never more than what is left of the unpacking budget
(a zip whose members declare more than that is not even started), so a zip bomb stops early.

Not read, reported: encrypted zip members, members over the budget, damaged archives (what was
read before the damage is kept), and the formats there is no reader for in the standard library
(7z, RAR, CAB, zstd, compress .Z, ARJ, LZH, cpio, ar, ISO, XAR, TNEF winmail.dat): "archive
format not read". Office packages (OOXML, OpenDocument) are zips too: they are recognised here by
their content and read by :mod:`mailflow.mime.formats.office`.
"""

from __future__ import annotations

import bz2
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from typing import Any, Protocol

from mailflow.mime.charset import decode_bytes
from mailflow.mime.formats import office
from mailflow.mime.formats._base import DAMAGED_ARCHIVE, ENCRYPTED, ENCRYPTED_MEMBER, OVER_UNPACKING, Context, base_name
from mailflow.mime.formats._zip import read_member, zip_name
from mailflow.mime.reading import Reading

__all__ = ["read_bzip2", "read_gzip", "read_tar", "read_xz", "read_zip"]

_WINDOW = 16 * 1024  # compressed bytes given to a decompressor at a time (bounds the copies per stream)


def read_zip(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except Exception:  # BadZipFile, and the odd ValueError/OSError of a damaged central directory
        return Reading.not_read(where, DAMAGED_ARCHIVE)
    with archive:
        kind = office.package_kind(archive)
        if kind is not None:
            return office.read_package(archive, kind, where, ctx)
        names: list[str] = []
        reading = Reading()
        for info in infos:
            member = zip_name(info)
            names.append(member)
            if info.is_dir():
                continue
            member_where = f"{member} in {where}"
            over = ctx.member(where)
            if over is not None:
                reading += over
                break
            if info.flag_bits & ENCRYPTED:
                reading += Reading.not_read(member_where, ENCRYPTED_MEMBER)
                continue
            content = read_member(archive, info, member_where, ctx)
            if isinstance(content, Reading):
                reading += content
                if content.unread and content.unread[0].reason == OVER_UNPACKING:
                    break
                continue
            member_data, damaged = content
            reading += ctx.file(member_data, filename=base_name(member), where=member_where)
            if damaged:
                reading += Reading.not_read(member_where, DAMAGED_ARCHIVE)
    return ctx.text(f"file names in {where}", "\n".join(names)) + reading


def read_gzip(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    inner = _gzip_name(data) or _strip(name, {".gz": "", ".gzip": "", ".tgz": ".tar", ".z": ""})
    return _compressed(lambda: _Zlib(zlib.decompressobj(wbits=31)), b"\x1f\x8b", data, inner, where, ctx)


def read_bzip2(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    inner = _strip(name, {".bz2": "", ".bz": "", ".tbz2": ".tar", ".tbz": ".tar"})
    return _compressed(bz2.BZ2Decompressor, b"BZh", data, inner, where, ctx)


def read_xz(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    inner = _strip(name, {".xz": "", ".lzma": "", ".txz": ".tar", ".tlz": ".tar"})
    return _compressed(lzma.LZMADecompressor, b"\xfd7zXZ\x00", data, inner, where, ctx)


class Decompressor(Protocol):
    """What bz2.BZ2Decompressor and lzma.LZMADecompressor offer (and :class:`_Zlib` for gzip)."""

    @property
    def eof(self) -> bool: ...
    @property
    def needs_input(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes, max_length: int = -1) -> bytes: ...


class _Zlib:
    """A zlib decompressor with the interface of bz2's and lzma's (input kept between calls)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    @property
    def eof(self) -> bool:
        return bool(self.stream.eof)

    @property
    def needs_input(self) -> bool:
        return not self.stream.unconsumed_tail

    @property
    def unused_data(self) -> bytes:
        return bytes(self.stream.unused_data)

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        return bytes(self.stream.decompress(data or self.stream.unconsumed_tail, max(max_length, 0)))


def _compressed(
    new: Callable[[], Decompressor], magic: bytes, data: bytes, inner: str | None, where: str, ctx: Context
) -> Reading:
    """The one file inside a gzip, bzip2 or xz file (concatenated streams make one file), read one
    level deeper. A truncated or corrupt stream keeps what came out before the damage."""
    over = ctx.member(where)
    if over is not None:
        return over
    left = ctx.budget.unpack_left
    parts: list[bytes] = []
    size = 0
    damaged = False
    view = memoryview(data)
    pos = 0
    try:
        while pos < len(data):
            if pos and not data.startswith(magic, pos):
                damaged = bool(data[pos:].strip(b"\x00"))  # padding after the last stream is fine
                break
            stream = new()
            while not stream.eof:
                feed = b""
                if stream.needs_input:
                    feed = bytes(view[pos : pos + _WINDOW])
                    pos += len(feed)
                    if not feed:
                        raise EOFError  # the input ended inside the stream
                chunk = stream.decompress(feed, left - size + 1)
                parts.append(chunk)
                size += len(chunk)
                if size > left:
                    ctx.budget.unpack(size)
                    return Reading.not_read(where, OVER_UNPACKING)
            pos -= len(stream.unused_data)
    except (EOFError, OSError, ValueError, zlib.error, lzma.LZMAError):
        damaged = True
    ctx.budget.unpack(size)
    reading = ctx.file(b"".join(parts), filename=inner, where=f"{inner or 'content'} in {where}")
    return reading + Reading.not_read(where, DAMAGED_ARCHIVE) if damaged else reading


def _gzip_name(data: bytes) -> str | None:
    """The original file name stored in a gzip header (FNAME), if any."""
    if len(data) < 10 or not data[3] & 0x08:
        return None
    pos = 10
    if data[3] & 0x04:  # FEXTRA
        pos += 2 + int.from_bytes(data[10:12], "little")
    end = data.find(b"\x00", pos, pos + 1024)
    if end < 0:
        return None
    return decode_bytes(data[pos:end], "latin-1") or None


def _strip(name: str | None, suffixes: dict[str, str]) -> str | None:
    if not name:
        return None
    lower = name.lower()
    for suffix, replacement in suffixes.items():
        if lower.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)] + replacement
    return None


def read_tar(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    names: list[str] = []
    reading = Reading()
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 (closed below)
    except Exception:
        return Reading.not_read(where, DAMAGED_ARCHIVE)
    with archive:
        try:
            for info in archive:
                member = _tar_name(info.name)
                names.append(member)
                if not info.isfile():
                    continue
                over = ctx.member(where)
                if over is not None:
                    reading += over
                    break
                stream = archive.extractfile(info)
                content = stream.read() if stream is not None else b""
                reading += ctx.file(content, filename=base_name(member), where=f"{member} in {where}")
            else:
                # tarfile ends quietly at a damaged header: anything but zeros after the end is unread
                if data[archive.offset :].strip(b"\x00"):
                    reading += Reading.not_read(where, DAMAGED_ARCHIVE)
        except Exception:  # truncated member data, a damaged header after the first
            reading += Reading.not_read(where, DAMAGED_ARCHIVE)
    return ctx.text(f"file names in {where}", "\n".join(names)) + reading


def _tar_name(name: str) -> str:
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:  # tarfile keeps undecodable bytes as surrogates
        return decode_bytes(name.encode("utf-8", "surrogateescape"), None)
