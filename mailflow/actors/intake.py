"""The intake queue: turn spooled messages into case records (see mailflow.pipeline)."""

from __future__ import annotations

import dramatiq

from mailflow import pipeline
from mailflow.runtime import current


@dramatiq.actor(queue_name="intake", max_retries=20, min_backoff=1_000, max_backoff=300_000)
def process_inbound(inbound_ids: list[int]) -> None:
    runtime = current()
    outcomes = pipeline.process_batch(runtime.services, inbound_ids)
    runtime.enqueue_send([oid for outcome in outcomes for oid in outcome.outbound_ids])
