"""The intake queue: turn spooled messages into case records and send what they drafted
(``Runtime.process_now``; see mailflow.pipeline)."""

from __future__ import annotations

import dramatiq

from mailflow.actors.room import room

TIME_LIMIT_MS = 600_000
"""A whole batch (up to ``mailflow.runtime.BATCH`` messages); each message also has its own
budget, ``[queue] message_time_limit_seconds``, after which it is recorded as too complex to read."""


@dramatiq.actor(queue_name="intake", max_retries=20, min_backoff=1_000, max_backoff=300_000, time_limit=TIME_LIMIT_MS)
def process_inbound(inbound_ids: list[int]) -> None:
    room().process_now(inbound_ids)
