"""The outbox queue: hand drafted mail to the transport (``Runtime.deliver``), which records each
outcome as the smarthost answers and schedules the retry of what failed."""

from __future__ import annotations

import dramatiq

from mailflow.actors.room import room

TIME_LIMIT_MS = 600_000


@dramatiq.actor(queue_name="outbox", max_retries=0, time_limit=TIME_LIMIT_MS)
def send_outbound(outbound_ids: list[int]) -> None:
    room().deliver(outbound_ids)
