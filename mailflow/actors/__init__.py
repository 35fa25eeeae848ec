"""Thin dramatiq actors, one file per queue. They receive ids, never objects.

Importing this package declares the actors. Until a runtime binds them to the configured broker
(``mailflow.runtime.Runtime.install``), they sit on an in-memory placeholder broker, so that
importing never connects anywhere. ``dramatiq mailflow.worker`` is the worker-process entry point.
"""

from __future__ import annotations

import dramatiq
import dramatiq.broker
from dramatiq.brokers.stub import StubBroker

if dramatiq.broker.global_broker is None:
    dramatiq.set_broker(StubBroker())

from mailflow.actors.deadlines import check_deadlines
from mailflow.actors.intake import process_inbound
from mailflow.actors.outbox import send_outbound

ACTORS: tuple[dramatiq.Actor[..., None], ...] = (process_inbound, send_outbound, check_deadlines)


def bind(broker: dramatiq.Broker) -> None:
    """Declare every actor on ``broker`` and make it the process's broker."""
    dramatiq.set_broker(broker)
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)


__all__ = ["ACTORS", "bind", "check_deadlines", "process_inbound", "send_outbound"]
