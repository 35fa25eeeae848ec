"""What reading a part yields: the texts found in it, and what could not be read to the end.

Every reader of the MIME reading (the part tree, HTML, documents, archives, images) answers with a
:class:`Reading`. A reader never raises on what a message contains and never stops silently: what
it cannot read (an image's pixels, an encrypted file, a damaged archive, anything over the budget)
is an :class:`Unread` with a fixed reason, so that the policy gate can hold a mail it has not read
to the end ("fail closed") and say why.

``where`` names the place for a person (the committee member fixing a held mail): "page 2",
"word/charts/chart1.xml", "EXIF Artist", "notes.txt in evidence.zip". It may contain a file name
from the message, so it is shown to that member, never logged. ``reason`` is a fixed phrase chosen
by the reader (never message content), so it may be logged and kept in the diary.

One :class:`Budget` is shared by every reader working on one message: depth of nesting, parts and
archive members, bytes unpacked and characters of text produced. Reading is linear in the
message's size and bounded by the budget; what is over it is not read, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Budget", "Limits", "Reading", "Text", "Unread"]

MiB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Text:
    where: str
    text: str
    raw: str | None = None
    """The text as written, when reading it meant decoding it (a percent-encoded attribute value)."""


@dataclass(frozen=True, slots=True)
class Unread:
    where: str
    reason: str


@dataclass(frozen=True, slots=True)
class Reading:
    texts: tuple[Text, ...] = ()
    unread: tuple[Unread, ...] = ()

    @property
    def complete(self) -> bool:
        """True when everything in the part was read to the end."""
        return not self.unread

    def __add__(self, other: Reading) -> Reading:
        return Reading(self.texts + other.texts, self.unread + other.unread)

    @classmethod
    def not_read(cls, where: str, reason: str) -> Reading:
        return cls((), (Unread(where, reason),))

    @classmethod
    def of(cls, where: str, text: str) -> Reading:
        return cls((Text(where, text),)) if text.strip() else cls()


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on the work one message may cost. The defaults are far above real mail (the corpus of
    994 messages from 21 test suites stays well inside them) and far below what hurts."""

    max_depth: int = 8
    """Nested messages, archives and documents inside each other."""
    max_mime_depth: int = 50
    """Multiparts inside multiparts within one message."""
    max_parts: int = 2000
    """MIME parts of one message, all levels."""
    max_members: int = 2000
    """Files read out of archives and document packages, all levels."""
    max_unpacked: int = 96 * MiB
    """Bytes produced by decompression (zip, gzip, bz2, xz, PDF streams) for one message."""
    max_text: int = 32 * MiB
    """Characters of text produced for one message."""
    max_headers: int = 2000
    """Header fields of one message or part."""
    max_encoded_words: int = 5000
    """RFC 2047 encoded words decoded for one message."""
    max_html_depth: int = 256
    """Open elements an HTML reading keeps track of (deeper nesting is read flat)."""


@dataclass(slots=True)
class Budget:
    """What is left of the :class:`Limits` while one message is read (not thread-safe: one per reading)."""

    limits: Limits = field(default_factory=Limits)
    parts: int = 0
    members: int = 0
    unpacked: int = 0
    text: int = 0
    encoded_words: int = 0

    def part(self) -> bool:
        """Count one MIME part; False when over the cap (the part is not read)."""
        self.parts += 1
        return self.parts <= self.limits.max_parts

    def member(self) -> bool:
        """Count one file read out of an archive or package; False when over the cap."""
        self.members += 1
        return self.members <= self.limits.max_members

    def unpack(self, size: int) -> bool:
        """Count ``size`` bytes of decompressed output; False when over the cap."""
        self.unpacked += max(size, 0)
        return self.unpacked <= self.limits.max_unpacked

    @property
    def unpack_left(self) -> int:
        return max(self.limits.max_unpacked - self.unpacked, 0)

    def take_text(self, size: int) -> bool:
        """Count ``size`` characters of text produced; False when over the cap."""
        self.text += max(size, 0)
        return self.text <= self.limits.max_text

    @property
    def text_left(self) -> int:
        return max(self.limits.max_text - self.text, 0)

    def encoded_word(self) -> bool:
        self.encoded_words += 1
        return self.encoded_words <= self.limits.max_encoded_words

    def deeper(self, depth: int) -> bool:
        """Whether something at nesting ``depth`` (0: the message itself) may still be opened."""
        return depth <= self.limits.max_depth
