"""The outbox queue: hand drafted mail to the transport; schedule the retry of what failed."""

from __future__ import annotations

import dramatiq

from mailflow.outbound.sender import send_batch
from mailflow.runtime import current


@dramatiq.actor(queue_name="outbox", max_retries=0)
def send_outbound(outbound_ids: list[int]) -> None:
    runtime = current()
    now = runtime.services.clock()
    for outbound_id, retry_at in send_batch(runtime.services, runtime.transport, outbound_ids).items():
        runtime.enqueue_send([outbound_id], delay_seconds=max(0.0, (retry_at - now).total_seconds()))
