"""Process spooled messages right here, in the order given, and send what they drafted.

For the commands that run without ``mailflow serve``: ``mailflow imap poll`` with the embedded
broker (no worker to hand ids to) and the imports (threading depends on the order, so they never
go through the queue). A failure after the spool's commit is left to the service's recovery
sweep: the messages stay ``received`` and are processed when it next runs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from mailflow.errors import TemporaryFailure
from mailflow.outbound.sender import send_batch
from mailflow.pipeline import Outcome, process_batch
from mailflow.runtime import BATCH, Runtime

log = logging.getLogger(__name__)


def process_now(runtime: Runtime, inbound_ids: Sequence[int]) -> list[Outcome]:
    """Process ``inbound_ids`` in batches (each batch in id order), then deliver their mail."""
    outcomes: list[Outcome] = []
    for start in range(0, len(inbound_ids), BATCH):
        outcomes += process_batch(runtime.services, list(inbound_ids[start : start + BATCH]))
    deliver(runtime, [oid for outcome in outcomes for oid in outcome.outbound_ids])
    return outcomes


def deliver(runtime: Runtime, outbound_ids: Sequence[int]) -> None:
    """Send now with the embedded broker; otherwise hand the mail to the workers."""
    if not outbound_ids:
        return
    if not runtime.settings.run_embedded_worker:
        runtime.install().enqueue_send(outbound_ids)
        return
    try:
        send_batch(runtime.services, runtime.transport, outbound_ids)
    except TemporaryFailure as exc:
        log.warning("%d outgoing mail(s) left for the service to send: %s", len(outbound_ids), exc)


def handoff(runtime: Runtime) -> Callable[[Sequence[int]], None]:
    """What to do with freshly spooled ids outside ``mailflow serve``: process them here with the
    embedded broker, else enqueue them for the workers."""
    if not runtime.settings.run_embedded_worker:
        runtime.install()
        return runtime.enqueue_inbound

    def here(inbound_ids: Sequence[int]) -> None:
        try:
            process_now(runtime, inbound_ids)
        except TemporaryFailure as exc:
            log.warning("%d message(s) stored but left for the service to process: %s", len(inbound_ids), exc)

    return here
