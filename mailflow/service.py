"""``mailflow serve``: the listeners, the embedded worker and the sweep, started and stopped together.

The asyncio loop that runs the SMTP/LMTP listeners lives in its own thread; the caller (the command
line, or a test) only calls ``start`` and ``stop``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from datetime import timedelta

from dramatiq import Worker

from mailflow.actors import check_deadlines
from mailflow.auth import DnsFunc, Roster
from mailflow.config import Settings
from mailflow.drafting import deadlines
from mailflow.embedded import WorkerProcesses
from mailflow.inbound import smtp
from mailflow.inbound.imap import ImapPoller
from mailflow.inbound.spool import GroupCommitSpool, Spool
from mailflow.inbound.submission import SubmissionListener
from mailflow.inbound.submit import submission_handler
from mailflow.outbound.transport import Transport
from mailflow.parse.addresses import ConductAddress
from mailflow.runtime import Runtime
from mailflow.sweep import sweep

log = logging.getLogger(__name__)


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
        self.runtime = Runtime.build(settings, transport=transport, dnsfunc=dnsfunc).install()
        self._run_worker = settings.run_embedded_worker if worker is None else worker
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
        queue = self.settings.queue
        if self._run_worker and queue.worker_processes:
            # Children do the work, and each sweeps its own share of the database.
            self._processes = WorkerProcesses(self.settings, queue.worker_processes).start()
        else:
            if self._run_worker:
                self._worker = Worker(self.runtime.broker, worker_threads=queue.worker_threads)
                self._worker.start()
            swept = sweep(self.runtime, min_age=timedelta(0))
            if swept.inbound or swept.outbound:
                log.info("resumed %d unprocessed message(s) and %d outgoing mail(s)", swept.inbound, swept.outbound)
            self._sweeper = threading.Thread(target=self._sweep_forever, name="sweeper", daemon=True)
            self._sweeper.start()
        self._spool = GroupCommitSpool(Spool(self.runtime.engine, on_committed=self._enqueue))
        if self.settings.intake.imap is not None:
            spool = Spool(self.runtime.engine, on_committed=self._enqueue)
            max_size = int(self.settings.intake.max_message_size)
            self.imap = ImapPoller(self.settings.intake.imap, spool, self.runtime.engine, max_message_size=max_size)
            self.imap.start()
        self._deadlines = threading.Thread(target=self._tick_forever, name="deadlines", daemon=True)
        self._deadlines.start()
        self._start_listeners()
        if self.settings.submission.listen:
            roster = Roster.from_settings(self.settings)
            self.submission = SubmissionListener(self.settings, roster, submission_handler(self.runtime)).start()
        return self

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

    def _tick_forever(self) -> None:
        """The scheduler of the manuals' deadlines: every ``check_seconds`` a ``check_deadlines``
        message for whichever worker takes it. With embedded worker processes (which share no
        broker with this one) the check runs here. Idempotent: several serve processes may run it."""
        services = self.runtime.services
        drafting = services.drafting
        period = self.settings.notices.check_seconds
        while not self._stopping.wait(period):
            try:
                if self._processes is not None:
                    deadlines.tick(self.runtime.engine, drafting, services.clock())
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
