"""Free space for the spool: a full disk pauses intake instead of wedging it (Postfix's queue_minfree).

While the file system that holds the SQLite database has less free space than
``[intake] min_free_space`` (default: 1.5 x max_message_size plus the WAL's size limit, so that
the message in flight, its checkpoint and the database's own bookkeeping still fit), the
listeners answer ``452 4.3.1`` at MAIL FROM and at DATA: the sending MTA keeps the message and
retries. Nothing is promised that is not stored, and intake resumes by itself once space returns.

``check(settings)`` is the one question, cheap enough to ask per transaction (one statvfs); it
says why in words an operator can read (``SpaceState.reason``). With PostgreSQL the database's
storage is the database server's to watch: the check then always passes.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from mailflow.config import Settings
from mailflow.database import WAL_SIZE_LIMIT
from mailflow.errors import TemporaryFailure

log = logging.getLogger(__name__)


class NoSpace(TemporaryFailure):
    """Intake refused for want of free space (``mailflow ingest`` exits 75 with 4.3.1)."""


@dataclass(frozen=True, slots=True)
class SpaceState:
    ok: bool
    """False: intake refuses new mail until space returns."""
    reason: str
    """For the operator: where, how much is free, how much is needed."""
    path: Path | None = None
    """The directory checked (the SQLite database's); None when nothing is checked."""
    free: int | None = None
    """Bytes available to the service there."""
    required: int = 0
    """``[intake] min_free_space`` in force."""


def required_free(settings: Settings) -> int:
    """``[intake] min_free_space``, or its default: 1.5 x the largest message plus the WAL's limit."""
    if settings.intake.min_free_space is not None:
        return int(settings.intake.min_free_space)
    return int(1.5 * int(settings.intake.max_message_size)) + WAL_SIZE_LIMIT


def database_directory(settings: Settings) -> Path | None:
    """Where the SQLite database lives (None for PostgreSQL or an in-memory database)."""
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database).resolve().parent


def check(settings: Settings) -> SpaceState:
    """Is there room to accept mail? One statvfs of the database's directory."""
    return measure(database_directory(settings), required_free(settings))


def measure(directory: Path | None, required: int) -> SpaceState:
    """``check`` with the directory and the floor already worked out (the listeners ask per
    transaction: resolving the path and parsing the database URL each time cost more than the statvfs)."""
    if directory is None:
        return SpaceState(True, "not checked: the database is not a local SQLite file", required=required)
    try:
        stat = os.statvfs(directory)
    except OSError as exc:
        # Nothing to measure (the directory is missing, say): the database will tell for itself.
        return SpaceState(True, f"cannot measure free space in {directory}: {exc.strerror}", directory, None, required)
    free = stat.f_bavail * stat.f_frsize
    if free < required:
        reason = (
            f"intake paused: {_size(free)} free in {directory}, below [intake] min_free_space "
            f"({_size(required)}); mail is refused with 452 4.3.1 until space returns"
        )
        return SpaceState(False, reason, directory, free, required)
    reason = f"{_size(free)} free in {directory} (min_free_space {_size(required)})"
    return SpaceState(True, reason, directory, free, required)


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} bytes"
    value = count / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class SpaceWatch:
    """``check`` for the listeners and ``mailflow serve``: logs once when intake pauses and once when
    it resumes, not per refused transaction."""

    def __init__(self, settings: Settings) -> None:
        self._directory = database_directory(settings)
        self._required = required_free(settings)
        self._lock = threading.Lock()
        self._paused = False
        self.state = SpaceState(True, "not checked yet")

    def refresh(self) -> SpaceState:
        state = measure(self._directory, self._required)
        with self._lock:
            self.state = state
            if not state.ok and not self._paused:
                log.warning("%s", state.reason)
            elif state.ok and self._paused:
                log.info("intake resumed: %s", state.reason)
            self._paused = not state.ok
        return state

    def ok(self) -> bool:
        return self.refresh().ok
