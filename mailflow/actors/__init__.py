"""Thin dramatiq actors, one file per queue. They receive ids, never objects, and call the
process's runtime (``mailflow.actors.room``): ``process_now`` for spooled messages, ``deliver``
for outgoing mail.

Importing this package declares the actors. Until a runtime binds them to the configured broker
(``mailflow.runtime.Runtime.install``), they sit on an in-memory placeholder broker, so that
importing never connects anywhere. ``dramatiq mailflow.worker`` is the worker-process entry point.

Every actor has a time limit (dramatiq's ``time_limit``). The pipeline also gives each message a
budget of its own (``mailflow.budget``): a message over it is recorded as "too complex to read"
instead of holding up the rest of its batch.
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
from mailflow.actors.room import EngineRoom, set_room

ACTORS: tuple[dramatiq.Actor[..., None], ...] = (process_inbound, send_outbound, check_deadlines)


def bind(broker: dramatiq.Broker, room: EngineRoom) -> None:
    """Declare every actor on ``broker``, make it the process's broker, and ``room`` what they call."""
    dramatiq.set_broker(broker)
    for actor in ACTORS:
        actor.broker = broker
        broker.declare_actor(actor)
    set_room(room)


__all__ = ["ACTORS", "EngineRoom", "bind", "check_deadlines", "process_inbound", "send_outbound"]
