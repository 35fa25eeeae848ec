"""An IMAP folder of the configured account as an import source.

The folder is opened read-only (EXAMINE): an import changes nothing on the server, not even
\\Seen. Its messages are those present when the import starts; mail arriving later is for the
live intake. Where the poller reads the same folder, the two share the line between them:

* the poller has already read up to UID W: only UIDs up to W are history; anything above is
  live mail not yet taken, and is left to the poller (it will be acknowledged);
* the poller has not read the folder yet: everything present is history, and the poller's
  watermark is set to the top of it before the import starts, so that the poller takes only
  what arrives afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import Engine

from mailflow.config import ImapSettings
from mailflow.imports.source import Entry, Message, as_utc, header_date
from mailflow.inbound import imap_session, imap_watermark
from mailflow.inbound.imap_session import ImapFolderMissing, account_key, describe, translated

log = logging.getLogger(__name__)

_LIST_BATCH = 500
_DATE_FIELD = "BODY.PEEK[HEADER.FIELDS (DATE)]"
_DATE_KEY = b"BODY[HEADER.FIELDS (DATE)]"
_BODY = b"BODY[]"


class ImapFolderSource:
    """Use as a context manager: connected and logged in inside it."""

    def __init__(self, settings: ImapSettings, folder: str, engine: Engine) -> None:
        self._settings = settings
        self._folder = folder
        self._engine = engine
        self._client: IMAPClient | None = None
        self._uidvalidity = 0
        self.left_for_live = 0
        """Messages above the poller's watermark: live mail the poller has not taken yet."""

    @property
    def label(self) -> str:
        return f"IMAP folder {self._folder!r} on {describe(self._settings)}"

    def __enter__(self) -> ImapFolderSource:
        self._client = imap_session.connect(self._settings)
        try:
            with translated(self._settings, f"opening folder {self._folder!r}"):
                self._uidvalidity = int(self._examine()[b"UIDVALIDITY"])
        except BaseException:
            imap_session.close(self._client)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            imap_session.close(self._client)
            self._client = None

    def entries(self) -> list[Entry]:
        client = self._connected()
        with translated(self._settings, f"listing folder {self._folder!r}"):
            uids = sorted(client.search(["ALL"]))
        uids = self._history(uids)
        found: list[Entry] = []
        for start in range(0, len(uids), _LIST_BATCH):
            part = uids[start : start + _LIST_BATCH]
            with translated(self._settings, f"reading dates in folder {self._folder!r}"):
                response = client.fetch(part, ["INTERNALDATE", "RFC822.SIZE", _DATE_FIELD])
            for uid in part:
                data = response.get(uid)
                if data is not None:
                    found.append(self._entry(uid, data))
        return found

    def read(self, entries: Sequence[Entry]) -> Iterator[Message]:
        client = self._connected()
        uids = [int(e.key) for e in entries]
        if not uids:
            return
        with translated(self._settings, f"fetching messages from folder {self._folder!r}"):
            response = client.fetch(uids, ["BODY.PEEK[]"])
        for entry in entries:
            raw = response.get(int(entry.key), {}).get(_BODY)
            if raw is None:  # expunged since the list was made
                continue
            origin = {"import": "imap", "folder": self._folder, "uidvalidity": self._uidvalidity, "uid": entry.key}
            yield Message(entry, bytes(raw), origin)

    # -- parts ----------------------------------------------------------------------------------

    def _connected(self) -> IMAPClient:
        if self._client is None:
            raise RuntimeError("use ImapFolderSource as a context manager")
        return self._client

    def _examine(self) -> dict[bytes, Any]:
        client = self._connected()
        try:
            return client.select_folder(self._folder, readonly=True)
        except IMAPClientError:
            if not client.folder_exists(self._folder):
                raise ImapFolderMissing(f"{describe(self._settings)} has no folder {self._folder!r}") from None
            raise

    def _history(self, uids: list[int]) -> list[int]:
        """The UIDs that are history (see the module's docstring), recording the line for the poller."""
        key = imap_watermark.FolderKey(account_key(self._settings), self._folder, self._uidvalidity)
        mark = imap_watermark.last_uid(self._engine, key)
        if mark is not None:
            history = [uid for uid in uids if uid <= mark]
            self.left_for_live = len(uids) - len(history)
            return history
        if uids and self._folder in self._settings.folders:
            imap_watermark.advance(self._engine, key, uids[-1])
        return uids

    def _entry(self, uid: int, data: dict[bytes, Any]) -> Entry:
        date = header_date(bytes(data.get(_DATE_KEY) or b""))
        internal = data.get(b"INTERNALDATE")
        if date is None and isinstance(internal, datetime):
            date = as_utc(internal)
        size = data.get(b"RFC822.SIZE")
        return Entry(uid, uid, date, int(size) if size is not None else None)
