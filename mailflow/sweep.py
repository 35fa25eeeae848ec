"""The recovery sweep: the database is the source of truth, so anything it says is unfinished is
handed to the queue again. Run at start (everything) and periodically (what has waited a while).
Processing is idempotent, so a message enqueued twice is done once.

With several embedded worker processes each sweeps its own share of the ids (id modulo count).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select

from mailflow.database import connection
from mailflow.model import InboundState
from mailflow.model import core as t
from mailflow.outbound import outbox
from mailflow.runtime import Runtime

WHOLE = (0, 1)


@dataclass(frozen=True, slots=True)
class Swept:
    inbound: int
    outbound: int


_UNPROCESSED = (
    select(t.inbound.c.id)
    .where(
        t.inbound.c.state == InboundState.RECEIVED,
        t.inbound.c.received_at <= bindparam("older_than"),
        t.inbound.c.id % bindparam("count") == bindparam("index"),
    )
    .order_by(t.inbound.c.id)
    .limit(bindparam("limit"))
)


def unprocessed(runtime: Runtime, older_than: datetime, limit: int = 5000, share: tuple[int, int] = WHOLE) -> list[int]:
    index, count = share
    params = {"older_than": older_than, "limit": limit, "index": index, "count": count}
    with connection(runtime.engine, read_only=True) as conn:
        return list(conn.execute(_UNPROCESSED, params).scalars())


def sweep(runtime: Runtime, *, min_age: timedelta = timedelta(seconds=10), share: tuple[int, int] = WHOLE) -> Swept:
    now = runtime.services.clock()
    inbound = unprocessed(runtime, now - min_age, share=share)
    runtime.enqueue_inbound(inbound)
    with connection(runtime.engine) as conn:
        due = outbox.due(conn, now, share=share)
    runtime.enqueue_send(due)
    return Swept(len(inbound), len(due))
