"""What every import source provides, and the order in which history is taken in.

A source is read twice: once for the list of its messages with their dates and sizes (``entries``,
headers only), then for the bytes of a few at a time in date order (``read``). So a large archive
is never held in memory, and threading sees a reply after the message it answers even when the
file has them the other way round.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from typing import Protocol

from mailflow.errors import (
    ImportSourceError,  # noqa: F401  (raised here; the hierarchy is in errors.py)
)

MAX_HEADER_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class Entry:
    """One message of a source, located but not yet read."""

    key: str | int
    """How the source finds it again: an mbox or Maildir key, an IMAP UID."""
    position: int
    """Its place in the source (file order, UID order): the tie-breaker."""
    date: datetime | None
    """When it was written: its Date header, else the source's own date for it; None if neither."""
    size: int | None
    """In bytes, where the source tells it without reading the message."""


@dataclass(frozen=True, slots=True)
class Message:
    entry: Entry
    raw: bytes
    origin: dict[str, object]
    """Where it came from, stored with the message (file and position, or folder and UID)."""


class Source(Protocol):
    @property
    def label(self) -> str:
        """Names the source for the operator, e.g. "mbox archive.mbox"."""
        ...

    def entries(self) -> list[Entry]: ...

    def read(self, entries: Sequence[Entry]) -> Iterator[Message]:
        """The messages of ``entries`` in that order (one that vanished meanwhile is left out)."""
        ...


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def date_order(entries: Sequence[Entry]) -> list[Entry]:
    """Oldest first; undated messages last; equal dates (and the undated) in source order."""
    return sorted(entries, key=lambda e: (e.date is None, e.date or _EPOCH, e.position))


def header_date(header_block: bytes) -> datetime | None:
    """The Date header of a header block, as aware UTC; None when absent or unparseable."""
    value = BytesHeaderParser(policy=compat32).parsebytes(header_block).get("Date")
    return parse_date(str(value)) if value else None


def parse_date(value: str) -> datetime | None:
    try:
        parsed = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def read_header_block(stream: Iterable[bytes]) -> bytes:
    """The header lines at the start of a message, up to the blank line (never the body)."""
    lines: list[bytes] = []
    total = 0
    for line in stream:
        if line in (b"\n", b"\r\n") or total > MAX_HEADER_BYTES:
            break
        lines.append(line)
        total += len(line)
    return b"".join(lines)


def as_utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
