"""Catch up one IMAP folder: fetch what is new, commit the bytes, then mark it on the server.

The order is what makes it safe to be interrupted anywhere:

1. ``UID FETCH ... BODY.PEEK[]`` (PEEK: reading does not set \\Seen) for the UIDs above the
   folder's watermark, a batch at a time (bounded in count and in bytes);
2. the spool commits the batch (durably) and hands the new ids on;
3. only then are the messages flagged or moved as configured (never deleted);
4. and the watermark is raised past the batch.

A connection lost between 2 and 4 means the batch is fetched again next time; the spool knows the
bytes and stores nothing twice. Logs name folders, counts and UIDs only: never an address, a
subject or a body.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from sqlalchemy import Engine

from mailflow.config import ImapSettings
from mailflow.inbound import imap_watermark as watermark
from mailflow.inbound.imap_session import ImapFolderMissing, describe, translated
from mailflow.inbound.spool import Envelope, Spool
from mailflow.model import InboundSource
from mailflow.parse.trace import Trace

log = logging.getLogger(__name__)

BODY = b"BODY[]"
MAX_BATCH_BYTES = 64 * 1024 * 1024
"""At most this many message bytes in memory at once (a batch is cut short before it)."""


@dataclass(frozen=True, slots=True)
class FolderPass:
    """What one catch-up of one folder did."""

    folder: str
    uidvalidity: int
    fetched: int = 0
    new: int = 0
    too_big: int = 0
    rescanned: bool = False
    """True when the folder was read from UID 1 again because its UIDVALIDITY changed."""


@dataclass(frozen=True, slots=True)
class _Plan:
    uids: list[int]
    stepwise: bool
    """The plan is every UID above the watermark, so the watermark may follow each batch."""
    opening: bool = False
    """No watermark under this UIDVALIDITY yet: write one at the end of the pass, even if nothing was read."""
    floor: int = 0
    """The watermark once every UID of the plan is done (first contact: UIDNEXT - 1 at SELECT)."""
    rescanned: bool = False


class FolderReader:
    """Reads the configured folders of one mailbox on a logged-in connection."""

    def __init__(
        self,
        client: IMAPClient,
        settings: ImapSettings,
        spool: Spool,
        engine: Engine,
        *,
        account: str,
        max_message_size: int,
        hostname: str = "localhost",
    ) -> None:
        self._client = client
        self._hostname = hostname
        self._settings = settings
        self._spool = spool
        self._engine = engine
        self._account = account
        self._max_size = max_message_size
        self._keyword_allowed = True

    def catch_up(self, folder: str) -> FolderPass:
        """One pass over ``folder``: everything new at the time of its SELECT."""
        with translated(self._settings, f"selecting folder {folder!r}"):
            selected = self._select(folder)
        uidvalidity = int(selected[b"UIDVALIDITY"])
        flags = selected.get(b"PERMANENTFLAGS", ())
        self._keyword_allowed = b"\\*" in flags or self._settings.keyword.encode() in flags
        key = watermark.FolderKey(self._account, folder, uidvalidity)
        with translated(self._settings, f"searching folder {folder!r}"):
            plan = self._plan(key, selected)
        fetched = new = too_big = 0
        for uids in _batches(plan.uids, self._settings.batch_size):
            done = self._batch(key, uids)
            fetched, new, too_big = fetched + done.fetched, new + done.new, too_big + done.too_big
            if plan.stepwise:
                watermark.advance(self._engine, key, uids[-1])
        if plan.opening:
            watermark.advance(self._engine, key, max(plan.floor, plan.uids[-1] if plan.uids else 0))
        if fetched or too_big:
            log.info(
                "IMAP folder %r: %d message(s) fetched, %d new, %d too big%s",
                folder,
                fetched,
                new,
                too_big,
                " (re-read after a UIDVALIDITY change)" if plan.rescanned else "",
            )
        return FolderPass(folder, uidvalidity, fetched, new, too_big, plan.rescanned)

    def mailbox_grew(self) -> bool:
        """Whether the server announced new mail (EXISTS) after the last SELECT: then look again
        before waiting in IDLE, which reports only what this session has not been told yet."""
        untagged = self._client._imap.untagged_responses  # imaplib keeps them; imapclient exposes no API
        return len(untagged.get("EXISTS", ())) > 1

    def ensure_folder(self, folder: str) -> None:
        with translated(self._settings, f"creating folder {folder!r}"):
            if not self._client.folder_exists(folder):
                self._client.create_folder(folder)
                log.info("IMAP folder %r created for processed mail", folder)

    # -- steps ------------------------------------------------------------------------------------

    def _select(self, folder: str) -> dict[bytes, Any]:
        try:
            return self._client.select_folder(folder)
        except IMAPClientError:
            if not self._client.folder_exists(folder):
                raise ImapFolderMissing(
                    f"{describe(self._settings)} has no folder {folder!r}; check [intake.imap] folders"
                ) from None
            raise

    def _plan(self, key: watermark.FolderKey, selected: dict[bytes, Any]) -> _Plan:
        floor = int(selected.get(b"UIDNEXT", 1)) - 1
        mark = watermark.last_uid(self._engine, key)
        if mark is not None:
            return _Plan(self._uids_above(mark), stepwise=True)
        if watermark.folder_known(self._engine, key.account, key.folder):
            log.warning(
                "IMAP folder %r has a new UIDVALIDITY (%d): reading it again from UID 1", key.folder, key.uidvalidity
            )
            return _Plan(self._uids_above(0), stepwise=True, opening=True, rescanned=True)
        first = self._settings.first_poll
        if first == "all":
            return _Plan(self._uids_above(0), stepwise=True, opening=True, floor=floor)
        if first == "unseen":
            # Read mail is history (bring it in with `mailflow import imap`): only the unread is taken,
            # and the watermark moves to the top of the folder once all of it is in.
            return _Plan(sorted(self._client.search(["UNSEEN"])), stepwise=False, opening=True, floor=floor)
        return _Plan([], stepwise=False, opening=True, floor=floor)

    def _uids_above(self, mark: int) -> list[int]:
        # "n:*" always matches the highest UID, even below n: filter.
        return sorted(uid for uid in self._client.search(["UID", f"{mark + 1}:*"]) if uid > mark)

    def _batch(self, key: watermark.FolderKey, uids: list[int]) -> FolderPass:
        folder = key.folder
        with translated(self._settings, f"fetching sizes in folder {folder!r}"):
            sizes = {
                uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in self._client.fetch(uids, ["RFC822.SIZE"]).items()
            }
        wanted = [uid for uid in uids if uid in sizes and sizes[uid] <= self._max_size]
        too_big = [uid for uid in uids if sizes.get(uid, 0) > self._max_size]
        for uid in too_big:
            log.warning(
                "IMAP folder %r: UID %d is %d bytes, over max_message_size: left unread and unmarked on the server",
                folder,
                uid,
                sizes[uid],
            )
        fetched = new = 0
        for part in _by_size(wanted, sizes, MAX_BATCH_BYTES):
            with translated(self._settings, f"fetching UIDs {part[0]}-{part[-1]} in folder {folder!r}"):
                response = self._client.fetch(part, ["BODY.PEEK[]", "INTERNALDATE"])
            # A UID missing from the answer was expunged meanwhile: gone, nothing to take.
            present = [uid for uid in part if response.get(uid, {}).get(BODY) is not None]
            items = [
                (bytes(response[uid][BODY]), self._envelope(key, uid, response[uid].get(b"INTERNALDATE")))
                for uid in present
            ]
            accepted = self._spool.accept_many(items) if items else []  # committed: now it may be marked
            with translated(self._settings, f"marking UIDs {part[0]}-{part[-1]} in folder {folder!r}"):
                self._mark(present)
            fetched += len(items)
            new += sum(1 for a in accepted if a.new)
        return FolderPass(folder, key.uidvalidity, fetched, new, len(too_big))

    def _envelope(self, key: watermark.FolderKey, uid: int, internaldate: object) -> Envelope:
        origin: dict[str, object] = {"folder": key.folder, "uidvalidity": key.uidvalidity, "uid": uid}
        if isinstance(internaldate, datetime):
            origin["internaldate"] = internaldate.isoformat()
        trace = Trace(by=self._hostname, protocol="IMAP", source=self._settings.host)
        return Envelope(InboundSource.IMAP, mail_from=None, origin=origin, trace=trace)

    def _mark(self, uids: Sequence[int]) -> None:
        if not uids:
            return
        settings = self._settings
        if settings.after == "flag":
            flags = [b"\\Seen"] + ([settings.keyword.encode()] if self._keyword_allowed else [])
            self._client.add_flags(uids, flags, silent=True)
            return
        assert settings.processed_folder is not None
        if self._client.has_capability("MOVE"):
            self._client.move(uids, settings.processed_folder)
            return
        # Without MOVE (RFC 6851): its equivalent, COPY then expunge just these UIDs (UIDPLUS).
        self._client.copy(uids, settings.processed_folder)
        if self._client.has_capability("UIDPLUS"):
            self._client.add_flags(uids, [b"\\Deleted"], silent=True)
            self._client.uid_expunge(uids)
        else:
            self._client.add_flags(uids, [b"\\Seen"], silent=True)


def _batches(uids: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(uids), size):
        yield list(uids[start : start + size])


def _by_size(uids: Sequence[int], sizes: dict[int, int], limit: int) -> Iterator[list[int]]:
    """Consecutive runs of UIDs whose sizes add up to at most ``limit`` (at least one each)."""
    part: list[int] = []
    total = 0
    for uid in uids:
        if part and total + sizes[uid] > limit:
            yield part
            part, total = [], 0
        part.append(uid)
        total += sizes[uid]
    if part:
        yield part
