"""One process's wiring: settings -> engine, renderer, transport, broker; and the two entry points.

``Runtime.process_now(ids)`` and ``Runtime.deliver(ids)`` are the only ways to process spooled
messages and to send outgoing mail. The actors call them (``install`` hands this runtime to them,
``mailflow.actors.room``), and so do the pipe, the submission listener, the imports, the IMAP
poller's command and the tests. Each handles failures the same way:

* a message that cannot be understood, or is over its time budget, is dealt with inside the
  pipeline (quarantined, or recorded as too complex to read); it never stops the others;
* the database or the transport being away (``TemporaryFailure``) propagates: the messages stay
  ``received`` (the mail ``queued``), and the actor's retry or the recovery sweep does them again.
  ``hand_on`` (for freshly spooled ids outside ``mailflow serve``) logs it and leaves them there;
* each delivery's outcome is recorded as soon as the smarthost answers (``mailflow.outbound.sender``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import Engine

from mailflow import actors
from mailflow.actors import room
from mailflow.auth import DnsFunc
from mailflow.committee import deadlines
from mailflow.config import Settings
from mailflow.database import engine_for, migrate
from mailflow.errors import TemporaryFailure
from mailflow.outbound.render import Renderer
from mailflow.outbound.sender import send_batch
from mailflow.outbound.smarthost import transport_from_settings
from mailflow.outbound.transport import Transport
from mailflow.pipeline import Outcome, process_batch
from mailflow.services import Services

log = logging.getLogger(__name__)

BATCH = 200  # ids per actor message, and per transaction of the pipeline


def make_broker(url: str) -> dramatiq.Broker:
    scheme = urlsplit(url).scheme
    if scheme == "stub":
        return StubBroker()
    if scheme in ("redis", "rediss"):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=url)
    from dramatiq.brokers.rabbitmq import RabbitmqBroker

    return RabbitmqBroker(url=url)


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    services: Services
    transport: Transport
    broker: dramatiq.Broker
    installed: bool = field(default=False)
    """True once the actors call this runtime: then failed deliveries are re-enqueued with a delay
    (elsewhere, e.g. in a command, they wait in the database for the service's sweep)."""

    @classmethod
    def build(
        cls,
        settings: Settings,
        *,
        transport: Transport | None = None,
        run_migrations: bool = True,
        dnsfunc: DnsFunc | None = None,
    ) -> Runtime:
        settings.service.data_dir.mkdir(parents=True, exist_ok=True)
        engine = engine_for(settings)
        if run_migrations:
            migrate(engine)
        services = Services(
            engine=engine, settings=settings, renderer=Renderer(settings.templates_dir), dnsfunc=dnsfunc
        )
        return cls(
            settings=settings,
            engine=engine,
            services=services,
            transport=transport or transport_from_settings(settings),
            broker=make_broker(settings.queue.broker_url),
        )

    def install(self) -> Runtime:
        """Make this the process's runtime: bind the actors to its broker and to it."""
        actors.bind(self.broker, self)
        self.installed = True
        return self

    # -- the two entry points ------------------------------------------------------------------

    def process_now(self, inbound_ids: Sequence[int], *, send: bool = True) -> list[Outcome]:
        """Process these spooled messages here, in batches (each in id order, one transaction), then
        deliver the mail they drafted (unless ``send`` is false: it waits in the outbox). Raises
        TemporaryFailure when the database is away: what was not committed stays ``received`` for
        the retry or the sweep."""
        outcomes: list[Outcome] = []
        for start in range(0, len(inbound_ids), BATCH):
            batch = process_batch(self.services, list(inbound_ids[start : start + BATCH]))
            outcomes += batch
            if send:
                self.deliver([oid for outcome in batch for oid in outcome.outbound_ids])
        return outcomes

    def deliver(self, outbound_ids: Sequence[int]) -> None:
        """Send these mails here, now, those that are due (one transport session per batch, each
        outcome recorded as the smarthost answers). A mail to try again is re-enqueued with its
        delay by an installed runtime; elsewhere it waits, ``retry``, for the sweep. Never raises
        for the database being away: the mail is in the outbox, and the sweep sends it."""
        for start in range(0, len(outbound_ids), BATCH):
            batch = list(outbound_ids[start : start + BATCH])
            try:
                retry = send_batch(self.services, self.transport, batch)
            except TemporaryFailure as exc:
                log.warning("%d outgoing mail(s) left for the sweep: %s", len(batch), exc)
                continue
            self._retry_later(retry)

    def hand_on(self, inbound_ids: Sequence[int]) -> None:
        """Freshly spooled ids outside ``mailflow serve`` (the pipe, the IMAP poller's command):
        process them here with the embedded broker, else enqueue them for the workers. Stored is
        stored: a failure after the spool's commit is logged and left to the service's sweep."""
        if not inbound_ids:
            return
        try:
            if self.settings.run_embedded_worker:
                self.process_now(inbound_ids)
            else:
                if not self.installed:
                    self.install()
                self.enqueue_inbound(inbound_ids)
        except TemporaryFailure as exc:
            log.warning("%d message(s) stored, left for the service to process: %s", len(inbound_ids), exc)

    def check_deadlines(self) -> None:
        deadlines.tick(self.engine, self.services.drafting, self.services.clock())

    # -- the queue -----------------------------------------------------------------------------

    def enqueue_inbound(self, inbound_ids: Sequence[int]) -> None:
        """Hand ids to the intake actor, in batches (a batch is processed in one transaction)."""
        for start in range(0, len(inbound_ids), BATCH):
            actors.process_inbound.send(list(inbound_ids[start : start + BATCH]))

    def enqueue_send(self, outbound_ids: Sequence[int], delay_seconds: float = 0) -> None:
        for start in range(0, len(outbound_ids), BATCH):
            batch = list(outbound_ids[start : start + BATCH])
            if delay_seconds > 0:
                actors.send_outbound.send_with_options(args=(batch,), delay=int(delay_seconds * 1000))
            else:
                actors.send_outbound.send(batch)

    def _retry_later(self, retry: dict[int, datetime]) -> None:
        if not retry or not self.installed:
            return
        now = self.services.clock()
        for outbound_id, at in retry.items():
            try:
                self.enqueue_send([outbound_id], delay_seconds=max(0.0, (at - now).total_seconds()))
            except Exception as exc:  # the broker away: the sweep finds the mail due in the database
                log.warning("retry of outbound %s left to the sweep: %s", outbound_id, exc.__class__.__name__)

    def close(self) -> None:
        if self.installed:
            room.unset_room(self)
        self.broker.close()
        self.engine.dispose()
