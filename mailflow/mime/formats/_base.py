"""What the readers of file formats share: the fixed reasons, and a :class:`Context` that carries
the budget, the depth and the way to read a file found inside another one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from mailflow.mime.reading import Budget, Reading, Text, Unread

__all__ = ["Context", "FileReader", "NestedReader"]

NestedReader = Callable[[bytes, str | None, str, str, int], Reading]
"""(data, filename, content_type, where, depth) -> Reading: how the caller reads what is its
business (an HTML file, an email message, an MHTML archive) when a file turns out to be one."""


class Stream(Protocol):
    """A binary stream to read from (a zip member, a gzip/bz2/xz file)."""

    def read(self, size: int = -1, /) -> bytes: ...


class FileReader(Protocol):
    """The dispatcher's signature (:func:`mailflow.mime.formats.read_file`)."""

    def __call__(
        self,
        data: bytes,
        *,
        filename: str | None,
        content_type: str,
        charset: str | None,
        where: str,
        budget: Budget,
        depth: int,
        nested: NestedReader | None = None,
    ) -> Reading: ...


# The fixed reasons of an Unread (never any content: they may be logged and kept in the diary).
TOO_DEEP = "nested too deep"
OVER_MEMBERS = "over the member budget"
OVER_UNPACKING = "over the unpacking budget"
OVER_TEXT = "over the text budget"
UNKNOWN_BINARY = "unknown binary content"
ENCRYPTED_PDF = "encrypted PDF"
DAMAGED_PDF = "damaged PDF"
PDF_IMAGES = "images in the PDF"
PDF_PAGES = "too many pages in the PDF"
ENCRYPTED_MEMBER = "encrypted archive member"
ARCHIVE_NOT_READ = "archive format not read"
DAMAGED_ARCHIVE = "damaged archive"
LEGACY_OFFICE = "legacy binary Office document"
ENCRYPTED_OFFICE = "encrypted Office document"
EMBEDDED_BINARY = "embedded binary object"
DAMAGED_OFFICE = "damaged Office document"
DAMAGED_MSG = "damaged Outlook message"
IMAGE_CONTENT = "image content cannot be read"
DAMAGED_IMAGE = "damaged image"
IMAGE_TOO_LARGE = "image too large"
VCARD_IMAGE = "image in vCard"
RTF_IMAGE = "image in RTF"
SOUND_OR_VIDEO = "sound or video content cannot be read"

CHUNK = 1024 * 1024
ENCRYPTED = 0x1  # zip general purpose flag: the member is encrypted


@dataclass(slots=True)
class Context:
    """One file being read: the shared budget, its nesting depth, and how to go deeper."""

    budget: Budget
    depth: int
    nested: NestedReader
    dispatch: FileReader
    charset: str | None = None  # declared for the file itself (None for what is found inside it)

    def text(self, where: str, text: str) -> Reading:
        """``text`` found at ``where``, counted against the text budget (what is over it is cut
        and reported)."""
        if not text.strip():
            return Reading()
        left = self.budget.text_left
        self.budget.take_text(len(text))
        if len(text) <= left:
            return Reading((Text(where, text),))
        kept = (Text(where, text[:left]),) if text[:left].strip() else ()
        return Reading(kept, (Unread(where, OVER_TEXT),))

    def member(self, where: str) -> Reading | None:
        """Count one file taken out of an archive or package: None when it may be read, else the
        Unread to report (the caller stops taking members out)."""
        return None if self.budget.member() else Reading.not_read(where, OVER_MEMBERS)

    def file(
        self,
        data: bytes,
        *,
        filename: str | None,
        where: str,
        content_type: str = "application/octet-stream",
        charset: str | None = None,
    ) -> Reading:
        """Read a file found inside this one (an archive member, an embedded file, an attachment),
        one level deeper."""
        return self.dispatch(
            data,
            filename=filename,
            content_type=content_type,
            charset=charset,
            where=where,
            budget=self.budget,
            depth=self.depth + 1,
            nested=self.nested,
        )

    def unpack(self, stream: Stream, declared_size: int | None = None) -> tuple[bytes | None, bool]:
        """(everything ``stream`` decompresses to, damaged), counted against the unpacking budget.

        The bytes are None (and the budget spent) when they are over what is left of it: no more
        than that is ever decompressed, and a declared size over it stops at once. When the stream
        fails (truncated, corrupt), what came out before is given with ``damaged`` True.
        """
        left = self.budget.unpack_left
        if declared_size is not None and declared_size > left:
            self.budget.unpack(declared_size)
            return None, False
        chunks: list[bytes] = []
        size = 0
        damaged = False
        while True:
            try:
                chunk = stream.read(min(CHUNK, left - size + 1))
            except Exception:  # zlib.error, EOFError, BadZipFile (CRC), LZMAError, OSError...
                damaged = True
                break
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > left:
                self.budget.unpack(size)
                return None, False
        self.budget.unpack(size)
        return b"".join(chunks), damaged

    def count_unpacked(self, size: int) -> bool:
        """Count bytes decompressed by a library that does it itself (PDF streams)."""
        return self.budget.unpack(size)


def base_name(name: str) -> str:
    """The last component of a member's path ("word/embeddings/x.docx" -> "x.docx")."""
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
