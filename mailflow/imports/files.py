"""mbox files and Maildir directories as import sources (the standard library's ``mailbox``).

Dates: the Date header; failing that, the mbox "From " line's date or the Maildir file's
modification time (its delivery time); failing that, the file's modification time for an mbox.
"""

from __future__ import annotations

import mailbox
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from mailflow.imports.source import Entry, ImportSourceError, Message, header_date, parse_date, read_header_block


class MboxSource:
    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ImportSourceError(f"no mbox file at {path}" + (" (it is a directory)" if path.is_dir() else ""))
        self.path = path
        try:
            self._box = mailbox.mbox(path, create=False)
        except (OSError, mailbox.Error) as exc:
            raise ImportSourceError(f"cannot open {path}: {exc}") from None
        self._mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)

    @property
    def label(self) -> str:
        return f"mbox {self.path}"

    def entries(self) -> list[Entry]:
        found = []
        try:
            for position, key in enumerate(self._box.iterkeys()):
                with self._box.get_file(key, from_=True) as stream:
                    from_line = stream.readline()
                    date = header_date(read_header_block(stream)) or _from_line_date(from_line) or self._mtime
                found.append(Entry(key, position, date, None))
        except (OSError, mailbox.Error) as exc:
            raise ImportSourceError(f"cannot read {self.path}: {exc}") from None
        return found

    def read(self, entries: Sequence[Entry]) -> Iterator[Message]:
        for entry in entries:
            raw = self._box.get_bytes(entry.key)  # type: ignore[arg-type]  # mbox keys are ints
            yield Message(entry, raw, {"import": "mbox", "file": str(self.path), "position": entry.position})

    def close(self) -> None:
        self._box.close()


class MaildirSource:
    def __init__(self, path: Path) -> None:
        if not (path / "cur").is_dir() or not (path / "new").is_dir():
            raise ImportSourceError(f"no Maildir at {path} (expected its cur/ and new/ directories)")
        self.path = path
        self._box = mailbox.Maildir(path, factory=None, create=False)

    @property
    def label(self) -> str:
        return f"Maildir {self.path}"

    def entries(self) -> list[Entry]:
        found = []
        try:
            # Maildir keys come in directory order, which means nothing: sort them for a stable order.
            for position, key in enumerate(sorted(self._box.iterkeys())):
                file = self._file(key)
                with open(file, "rb") as stream:
                    date = header_date(read_header_block(stream))
                if date is None:
                    date = datetime.fromtimestamp(os.stat(file).st_mtime, UTC)
                found.append(Entry(key, position, date, os.stat(file).st_size))
        except OSError as exc:
            raise ImportSourceError(f"cannot read {self.path}: {exc.strerror}") from None
        return found

    def read(self, entries: Sequence[Entry]) -> Iterator[Message]:
        for entry in entries:
            try:
                raw = self._box.get_bytes(str(entry.key))
            except KeyError:  # removed since the list was made
                continue
            yield Message(entry, raw, {"import": "maildir", "dir": str(self.path), "file": str(entry.key)})

    def close(self) -> None:
        self._box.close()

    def _file(self, key: str) -> str:
        # mailbox.Maildir has no public way to a message's path (cur/ or new/, with its flags suffix).
        return os.path.join(self.path, self._box._lookup(key))  # type: ignore[attr-defined]


def _from_line_date(line: bytes) -> datetime | None:
    """The date of an mbox "From sender date" separator line."""
    text = line.decode("ascii", "replace").rstrip("\r\n")
    if not text.startswith("From "):
        return None
    _sender, _, date = text[5:].strip().partition(" ")
    return parse_date(date) if date else None
