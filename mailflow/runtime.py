"""One process's wiring: settings -> engine, renderer, transport, broker; and the actors bound to it.

Everything below the actors receives its collaborators as arguments. The actors alone, being
entered by dramatiq with nothing but an id, find them here (``current()``); ``install`` sets it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

import dramatiq
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import Engine

from mailflow.auth import DnsFunc
from mailflow.config import Settings
from mailflow.database import engine_for, migrate
from mailflow.errors import MailflowError
from mailflow.outbound.render import Renderer
from mailflow.outbound.transport import Transport, transport_from_settings
from mailflow.pipeline import Services

BATCH = 200  # ids per actor message


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
        """Make this the process's runtime and bind the actors to its broker."""
        global _current
        from mailflow import actors

        actors.bind(self.broker)
        with _lock:
            _current = self
        return self

    def enqueue_inbound(self, inbound_ids: Sequence[int]) -> None:
        """Hand ids to the intake actor, in batches (a batch is processed in one transaction)."""
        from mailflow.actors import process_inbound

        for start in range(0, len(inbound_ids), BATCH):
            process_inbound.send(list(inbound_ids[start : start + BATCH]))

    def enqueue_send(self, outbound_ids: Sequence[int], delay_seconds: float = 0) -> None:
        from mailflow.actors import send_outbound

        for start in range(0, len(outbound_ids), BATCH):
            batch = list(outbound_ids[start : start + BATCH])
            if delay_seconds > 0:
                send_outbound.send_with_options(args=(batch,), delay=int(delay_seconds * 1000))
            else:
                send_outbound.send(batch)

    def close(self) -> None:
        global _current
        with _lock:
            if _current is self:
                _current = None
        self.broker.close()
        self.engine.dispose()


_lock = threading.Lock()
_current: Runtime | None = None


class NoRuntime(MailflowError):
    pass


def current() -> Runtime:
    if _current is None:
        raise NoRuntime("no mailflow runtime installed in this process (Runtime.build(...).install())")
    return _current
