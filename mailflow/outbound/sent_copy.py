"""A copy of every mail sent in the provider's Sent folder (``[outgoing] sent_folder``).

For a committee that runs the service against its provider alone: what the service sends shows up
in the mailbox's Sent folder beside what members sent by hand. The copy is appended over the IMAP
account of ``[intake.imap]`` after the mail has been handed over, marked \\Seen. It is a courtesy,
never a condition: a copy that cannot be made is logged (folder and reason only) and the delivery
stands. A mail handed over again after a crash may be copied twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from imapclient import IMAPClient

from mailflow.config import ImapSettings
from mailflow.inbound import imap_session
from mailflow.inbound.imap_session import ImapError, translated
from mailflow.outbound.transport import Send, Transport

log = logging.getLogger(__name__)


class SentCopyTransport:
    """Wraps a transport: each mail it accepts is also appended to ``folder``."""

    def __init__(self, inner: Transport, imap: ImapSettings, folder: str) -> None:
        self._inner = inner
        self._imap = imap
        self._folder = folder

    def send(self, mail_from: str, recipients: Sequence[str], raw: bytes, message_id: str) -> list[str]:
        with self.session() as send:
            return send(mail_from, recipients, raw, message_id)

    def session(self) -> AbstractContextManager[Send]:
        return self._session()

    @contextmanager
    def _session(self) -> Iterator[Send]:
        copier = _Copier(self._imap, self._folder)
        try:
            with self._inner.session() as inner_send:

                def send(mail_from: str, recipients: Sequence[str], raw: bytes, message_id: str) -> list[str]:
                    refused = inner_send(mail_from, recipients, raw, message_id)  # raises: nothing to copy
                    copier.append(raw)
                    return refused

                yield send
        finally:
            copier.close()


class _Copier:
    """One IMAP connection per sending session, opened on the first copy; given up on the first failure."""

    def __init__(self, imap: ImapSettings, folder: str) -> None:
        self._imap = imap
        self._folder = folder
        self._client: IMAPClient | None = None
        self._failed = False

    def append(self, raw: bytes) -> None:
        if self._failed:
            return
        try:
            client = self._connected()
            with translated(self._imap, f"appending to folder {self._folder!r}"):
                client.append(self._folder, raw, flags=(rb"\Seen",))
        except ImapError as exc:
            self._failed = True
            log.warning("no copy in the Sent folder %r for this batch: %s", self._folder, exc)
            self.close()

    def close(self) -> None:
        if self._client is not None:
            imap_session.close(self._client)
            self._client = None

    def _connected(self) -> IMAPClient:
        if self._client is None:
            client = imap_session.connect(self._imap)
            self._client = client
            with translated(self._imap, f"creating folder {self._folder!r}"):
                if not client.folder_exists(self._folder):
                    client.create_folder(self._folder)
        return self._client
