"""Taking members out of a zip (plain archives and Office packages alike)."""

from __future__ import annotations

import zipfile

from mailflow.mime.charset import decode_bytes
from mailflow.mime.formats._base import DAMAGED_ARCHIVE, OVER_UNPACKING, Context
from mailflow.mime.reading import Reading

__all__ = ["read_member", "zip_name"]

_UTF8_NAMES = 0x800


def zip_name(info: zipfile.ZipInfo) -> str:
    """A member's name as its maker meant it: names without the UTF-8 flag were decoded by zipfile
    as CP437, while most such zips come from a Windows code page or UTF-8."""
    if info.flag_bits & _UTF8_NAMES:
        return info.filename
    try:
        raw = info.filename.encode("cp437")
    except UnicodeEncodeError:
        return info.filename
    return decode_bytes(raw, None) if not raw.isascii() else info.filename


def read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str, ctx: Context
) -> tuple[bytes, bool] | Reading:
    """(the bytes of a zip member, damaged), or the Reading that says why it was not read."""
    try:
        with archive.open(info) as stream:
            data, damaged = ctx.unpack(stream, info.file_size)
    except Exception:  # unsupported compression method, damaged local header
        return Reading.not_read(where, DAMAGED_ARCHIVE)
    if data is None:
        return Reading.not_read(where, OVER_UNPACKING)
    return data, damaged
