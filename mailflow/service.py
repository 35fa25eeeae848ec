"""``mailflow serve``: the listeners, the embedded worker and the sweep, started and stopped together.

The asyncio loop that runs the SMTP/LMTP listeners lives in its own thread; the caller (the command
line, or a test) only calls ``start`` and ``stop``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta

from dramatiq import Worker

from mailflow.actors import check_deadlines
from mailflow.auth import DnsFunc, Roster
from mailflow.config import Settings
from mailflow.database import checkpoint, migrate
from mailflow.embedded import WorkerProcesses
from mailflow.errors import TemporaryFailure
from mailflow.handoff import submission_handler
from mailflow.inbound import smtp
from mailflow.inbound.imap import ImapPoller
from mailflow.inbound.space import SpaceWatch
from mailflow.inbound.spool import GroupCommitSpool, Spool
from mailflow.inbound.submission import SubmissionListener
from mailflow.outbound.transport import Transport
from mailflow.parse.addresses import ConductAddress
from mailflow.runtime import Runtime
from mailflow.sweep import sweep

log = logging.getLogger(__name__)

SPACE_CHECK_SECONDS = 2.0
"""How often serve looks at the free space by itself (the listeners also look at every MAIL FROM)."""
CHECKPOINT_SECONDS = 60.0
"""How often serve truncates SQLite's write-ahead log."""


def _split(listen: str) -> tuple[str, int]:
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


class Service:
    def __init__(
        self,
        settings: Settings,
        *,
        transport: Transport | None = None,
        worker: bool | None = None,
        dnsfunc: DnsFunc | None = None,
    ) -> None:
        self.settings = settings
        # Migrations run in start(): on a full disk the service starts all the same, refusing mail.
        self.runtime = Runtime.build(settings, transport=transport, dnsfunc=dnsfunc, run_migrations=False).install()
        self.space = SpaceWatch(settings)
        self._database_ready = False
        self._maintenance: threading.Thread | None = None
        self._run_worker = settings.run_embedded_worker if worker is None else worker
        # A transport or DNS function handed in (by a test) cannot cross into child processes.
        in_process = transport is not None or dnsfunc is not None
        self._process_count = 0 if in_process else settings.embedded_processes
        self._worker: Worker | None = None
        self._processes: WorkerProcesses | None = None
        self._spool: GroupCommitSpool | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._stopping = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._deadlines: threading.Thread | None = None
        self.imap: ImapPoller | None = None
        self.submission: SubmissionListener | None = None
        self.smtp_port: int | None = None
        self.lmtp_port: int | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> Service:
        self._database_ready = self._open_database()
        self._spool = GroupCommitSpool(Spool(self.runtime.engine, on_committed=self._enqueue))
        if self._database_ready:
            self._start_work()
        self._start_listeners()
        if self.settings.submission.listen:
            roster = Roster.from_settings(self.settings)
            self.submission = SubmissionListener(self.settings, roster, submission_handler(self.runtime)).start()
        self._maintenance = threading.Thread(target=self._maintain, name="maintenance", daemon=True)
        self._maintenance.start()
        return self

    def _open_database(self) -> bool:
        """Bring the schema up to date. False when that cannot be done for want of disk space:
        the service then starts refusing mail (452 4.3.1) and opens the database once space returns."""
        try:
            migrate(self.runtime.engine)
        except TemporaryFailure as exc:
            state = self.space.refresh()
            if state.ok:
                raise
            log.warning("database not opened yet (%s); waiting for free space", exc)
            return False
        self.space.refresh()
        return True

    def accepting(self) -> bool:
        """May the listeners take mail now? (the database is open and there is room)"""
        return self._database_ready and self.space.ok()

    def _start_work(self) -> None:
        """What needs the database: the worker(s), the sweep, the IMAP poller, the deadlines."""
        queue = self.settings.queue
        if self._run_worker and self._process_count:
            # Children do the work, beside the listeners, and each sweeps its own share of the database.
            self._processes = WorkerProcesses(self.settings, self._process_count).start()
        else:
            if self._run_worker:
                self._worker = Worker(self.runtime.broker, worker_threads=queue.worker_threads)
                self._worker.start()
            swept = sweep(self.runtime, min_age=timedelta(0))
            if swept.inbound or swept.outbound:
                log.info("resumed %d unprocessed message(s) and %d outgoing mail(s)", swept.inbound, swept.outbound)
            self._sweeper = threading.Thread(target=self._sweep_forever, name="sweeper", daemon=True)
            self._sweeper.start()
        if self.settings.intake.imap is not None:
            spool = Spool(self.runtime.engine, on_committed=self._enqueue)
            max_size = int(self.settings.intake.max_message_size)
            self.imap = ImapPoller(
                self.settings.intake.imap,
                spool,
                self.runtime.engine,
                max_message_size=max_size,
                hostname=self.settings.intake.hostname,
            )
            self.imap.start()
        self._deadlines = threading.Thread(target=self._tick_forever, name="deadlines", daemon=True)
        self._deadlines.start()

    def stop(self) -> None:
        self._stopping.set()
        if self.submission is not None:
            self.submission.stop()
            self.submission = None
        if self.imap is not None:
            self.imap.stop()
        if self._loop is not None:
            asyncio.run_coroutine_threadsafe(self._close_servers(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._loop_thread is not None:
                self._loop_thread.join(timeout=10)
            self._loop.close()
            self._loop = None
        if self._spool is not None:
            self._spool.close()
        if self._sweeper is not None:
            self._sweeper.join(timeout=10)
        if self._deadlines is not None:
            self._deadlines.join(timeout=10)
        if self._maintenance is not None:
            self._maintenance.join(timeout=10)
        if self._worker is not None:
            self._worker.stop()
            self._worker = None
        if self._processes is not None:
            self._processes.stop()
            self._processes = None
        self.runtime.close()

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- parts ----------------------------------------------------------------------------------

    def _enqueue(self, inbound_ids: Sequence[int]) -> None:
        if self._processes is not None:
            self._processes.hand_over(inbound_ids)
            return
        self.runtime.enqueue_inbound(inbound_ids)

    def _sweep_forever(self) -> None:
        interval = self.settings.queue.sweep_seconds
        while not self._stopping.wait(interval):
            try:
                sweep(self.runtime, min_age=timedelta(seconds=max(5 * interval, 10)))
            except Exception:  # the database may be down for a while: keep sweeping
                log.exception("sweep failed")

    def _maintain(self) -> None:
        """Free space and the write-ahead log: log when intake pauses or resumes, open the database
        once space returns (if it could not be opened at start), truncate the WAL every minute."""
        last_checkpoint = time.monotonic()
        while not self._stopping.wait(SPACE_CHECK_SECONDS):
            state = self.space.refresh()
            if not self._database_ready and state.ok:
                try:
                    migrate(self.runtime.engine)
                except TemporaryFailure as exc:
                    log.warning("database still not opened: %s", exc)
                    continue
                self._database_ready = True
                log.info("database opened; intake resumed")
                self._start_work()
            if self._database_ready and time.monotonic() - last_checkpoint >= CHECKPOINT_SECONDS:
                last_checkpoint = time.monotonic()
                try:
                    checkpoint(self.runtime.engine)
                except TemporaryFailure as exc:
                    log.warning("WAL checkpoint failed: %s", exc)

    def _tick_forever(self) -> None:
        """The scheduler of the manuals' deadlines: every ``check_seconds`` a ``check_deadlines``
        message for whichever worker takes it. With embedded worker processes (which share no
        broker with this one) the check runs here. Idempotent: several serve processes may run it."""
        period = self.settings.notices.check_seconds
        while not self._stopping.wait(period):
            try:
                if self._processes is not None:
                    self.runtime.check_deadlines()
                else:
                    # With no worker up for a while, stale checks are dropped (a newer one follows)
                    # rather than piling up and all running at once when a worker comes back.
                    check_deadlines.send_with_options(max_age=int(max(2 * period, 60) * 1000))
            except Exception:  # the database or the broker may be down for a while: keep ticking
                log.exception("deadline check failed")

    def _start_listeners(self) -> None:
        intake = self.settings.intake
        if not intake.smtp_listen and not intake.lmtp_listen:
            return
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(target=self._loop.run_forever, name="listeners", daemon=True)
        self._loop_thread.start()
        future = asyncio.run_coroutine_threadsafe(self._open_servers(), self._loop)
        future.result(timeout=30)

    async def _open_servers(self) -> None:
        intake = self.settings.intake
        conduct = ConductAddress.parse(self.settings.service.conduct_address)
        assert self._spool is not None
        guard = smtp.Guard(smtp.Limits.from_settings(intake), space_ok=self.accepting)
        for listen, lmtp in ((intake.smtp_listen, False), (intake.lmtp_listen, True)):
            if not listen:
                continue
            host, port = _split(listen)
            factory = smtp.server_factory(
                self._spool,
                conduct,
                lmtp=lmtp,
                max_size=int(intake.max_message_size),
                hostname=intake.hostname,
                guard=guard,
            )
            server = await asyncio.get_running_loop().create_server(factory, host=host, port=port)
            self._servers.append(server)
            bound = server.sockets[0].getsockname()[1]
            if lmtp:
                self.lmtp_port = bound
            else:
                self.smtp_port = bound
            log.info("%s listener on %s:%d", "LMTP" if lmtp else "SMTP", host, bound)

    async def _close_servers(self) -> None:
        for server in self._servers:
            server.close()
            await server.wait_closed()
        self._servers.clear()
