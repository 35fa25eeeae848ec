"""The IMAP poller: mail to the committee's existing mailbox, taken in as if it had come by SMTP.

For committees that cannot point an MX at this service. ``mailflow serve`` runs it in a thread when
``[intake.imap]`` is configured; ``mailflow imap poll --once`` runs one pass. Each folder is read
by ``imap_sync.FolderReader`` (fetch above the watermark, commit, then flag or move). Between
passes the poller waits in IDLE on the first folder when the server offers it (new mail wakes it
at once), else sleeps ``poll_seconds``; with IDLE every folder is still read again at least every
``poll_seconds``.

A lost connection, a server restart or a database outage ends the connection; the poller
reconnects after a pause that doubles up to ``reconnect_max_seconds``. Nothing is lost: the bytes
are committed before a message is marked, and whatever was fetched but not marked is fetched
again and recognised by the spool.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from imapclient import IMAPClient
from sqlalchemy import Engine

from mailflow.config import ImapSettings
from mailflow.errors import TemporaryFailure
from mailflow.inbound import imap_session
from mailflow.inbound.imap_session import ImapError, ImapUnavailable, account_key, describe, translated
from mailflow.inbound.imap_sync import FolderPass, FolderReader
from mailflow.inbound.spool import Spool

log = logging.getLogger(__name__)

IDLE_RENEW_SECONDS = 25 * 60
"""RFC 2177: a client should re-issue IDLE at least every 29 minutes."""
_IDLE_SLICE = 1.0
"""Wait in IDLE in slices this long, so that ``stop`` is noticed within about a second."""
_MAX_PASSES = 1000
"""Passes over one folder in a row before waiting anyway (mail arriving faster than it is read)."""


@dataclass(frozen=True, slots=True)
class PollResult:
    passes: tuple[FolderPass, ...]

    @property
    def fetched(self) -> int:
        return sum(p.fetched for p in self.passes)

    @property
    def new(self) -> int:
        return sum(p.new for p in self.passes)

    @property
    def too_big(self) -> int:
        return sum(p.too_big for p in self.passes)


class Backoff:
    """Pauses before reconnecting: first, then doubling, up to longest; reset after a good connection."""

    def __init__(self, first: float = 1.0, longest: float = 300.0) -> None:
        self.first, self.longest = first, max(first, longest)
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.longest)
        return delay

    def reset(self) -> None:
        self._next = self.first


class ImapPoller:
    """Reads ``settings.folders`` into ``spool`` (whose ``on_committed`` hands the ids on)."""

    def __init__(
        self,
        settings: ImapSettings,
        spool: Spool,
        engine: Engine,
        *,
        max_message_size: int,
        hostname: str = "localhost",
    ) -> None:
        self.settings = settings
        self._hostname = hostname
        self._spool = spool
        self._engine = engine
        self._max_size = max_message_size
        self._account = account_key(settings)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.backoff = Backoff(longest=settings.reconnect_max_seconds)
        self.waiting = threading.Event()
        """Set while the poller waits for new mail (in IDLE, or between polls): for tests and status."""
        self.connections = 0
        """Successful logins so far."""

    # -- one pass -------------------------------------------------------------------------------

    def poll_once(self) -> PollResult:
        """Connect, read every folder until nothing new is left, log out. Raises ImapError."""
        client = self._connect()
        try:
            reader = self._reader(client)
            return PollResult(tuple(p for folder in self.settings.folders for p in self._drain(reader, folder)))
        finally:
            imap_session.close(client)

    # -- running ----------------------------------------------------------------------------------

    def start(self) -> ImapPoller:
        self._stop.clear()
        self._thread = threading.Thread(target=self.run, name="imap-poller", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            if self._thread.is_alive():
                log.warning("the IMAP poller did not stop within %.0fs", timeout)
            self._thread = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Until ``stop``: connect, read, wait for mail; reconnect with backoff after any failure."""
        log.info(
            "IMAP intake from %s, folders %s", describe(self.settings), ", ".join(map(repr, self.settings.folders))
        )
        while not self._stop.is_set():
            client: IMAPClient | None = None
            try:
                client = self._connect()
                self.backoff.reset()
                self._serve(client)
            except ImapUnavailable as exc:
                self._pause(exc, logging.WARNING)
            except (ImapError, TemporaryFailure) as exc:
                self._pause(exc, logging.ERROR)
            except Exception:
                log.exception("IMAP intake failed unexpectedly; reconnecting")
                self._pause(None, logging.ERROR)
            finally:
                self.waiting.clear()
                if client is not None:
                    imap_session.close(client)
        log.info("IMAP intake stopped")

    def _serve(self, client: IMAPClient) -> None:
        reader = self._reader(client)
        first, others = self.settings.folders[0], self.settings.folders[1:]
        idle = self.settings.idle and client.has_capability("IDLE")
        if self.settings.idle and not idle:
            log.info("%s has no IDLE: polling every %gs", describe(self.settings), self.settings.poll_seconds)
        while not self._stop.is_set():
            for folder in others:
                self._drain(reader, folder)
            self._drain(reader, first)  # last: it stays selected for IDLE
            if self._stop.is_set():
                return
            if idle:
                self._idle(client)
            else:
                self.waiting.set()
                self._stop.wait(self.settings.poll_seconds)
                self.waiting.clear()

    def _idle(self, client: IMAPClient) -> None:
        """Wait in IDLE until the server reports a change, ``poll_seconds`` pass, or ``stop``."""
        with translated(self.settings, "waiting in IDLE"):
            client.idle()
            self.waiting.set()
            try:
                deadline = time.monotonic() + min(self.settings.poll_seconds, IDLE_RENEW_SECONDS)
                while not self._stop.is_set():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    started = time.monotonic()
                    slice_ = min(_IDLE_SLICE, left)
                    if client.idle_check(timeout=slice_):
                        break  # new mail, expunges, flag changes, or BYE: look again
                    if time.monotonic() - started < slice_ / 2:
                        break  # the socket was readable but held no response: most likely closed
            finally:
                self.waiting.clear()
            client.idle_done()

    def _pause(self, error: BaseException | None, level: int) -> None:
        delay = self.backoff.next()
        if error is not None:
            log.log(level, "IMAP intake: %s; trying again in %.0fs", error, delay)
        self._stop.wait(delay)

    # -- parts ------------------------------------------------------------------------------------

    def _connect(self) -> IMAPClient:
        client = imap_session.connect(self.settings)
        self.connections += 1
        return client

    def _reader(self, client: IMAPClient) -> FolderReader:
        reader = FolderReader(
            client,
            self.settings,
            self._spool,
            self._engine,
            account=self._account,
            max_message_size=self._max_size,
            hostname=self._hostname,
        )
        if self.settings.after == "move":
            assert self.settings.processed_folder is not None
            reader.ensure_folder(self.settings.processed_folder)
        return reader

    def _drain(self, reader: FolderReader, folder: str) -> list[FolderPass]:
        """Read ``folder`` again and again until a pass finds nothing and nothing arrived meanwhile."""
        passes = []
        for _ in range(_MAX_PASSES):
            done = reader.catch_up(folder)
            passes.append(done)
            if self._stop.is_set() or not (done.fetched or done.too_big or reader.mailbox_grew()):
                break
        return passes
