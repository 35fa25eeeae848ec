"""Send outbox mail: claim a batch, hand it over outside any transaction (one smarthost connection
for the batch), record the outcomes together."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mailflow import metrics
from mailflow.database import connection
from mailflow.errors import TransportError
from mailflow.model import OutboundState
from mailflow.outbound import outbox
from mailflow.outbound.transport import Transport

if TYPE_CHECKING:
    from mailflow.pipeline import Services

log = logging.getLogger(__name__)


@metrics.timed_delivery
def send_batch(svc: Services, transport: Transport, outbound_ids: Sequence[int]) -> dict[int, datetime]:
    """Deliver those that are due. Returns, for each mail to try again, when."""
    # Durable: everything these mails refer to (their cases, diary entries) is on disk before they leave.
    with connection(svc.engine, durable=True) as conn:
        claimed = outbox.claim_many(conn, list(outbound_ids), svc.clock())
    if not claimed:
        return {}
    results: list[tuple[outbox.Claimed, list[str], TransportError | None]] = []
    with transport.session() as send:
        for mail in claimed:
            try:
                results.append((mail, send(mail.mail_from, mail.recipients, mail.raw, mail.message_id), None))
            except TransportError as exc:
                results.append((mail, [], exc))
    settings = svc.settings.outgoing
    retry: dict[int, datetime] = {}
    with connection(svc.engine) as conn:
        for mail, refused, error in results:
            outcome = outbox.record_outcome(
                conn,
                mail,
                refused,
                error,
                now=svc.clock(),
                max_attempts=settings.max_attempts,
                retry_base_seconds=settings.retry_base_seconds,
            )
            metrics.delivered(outcome.state)
            if error is not None:
                log.warning("outbound %s attempt %s: %s -> %s", mail.id, outcome.attempts, error, outcome.state.value)
            if outcome.state is OutboundState.RETRY and outcome.next_attempt_at is not None:
                retry[mail.id] = outcome.next_attempt_at
    return retry


def send_one(svc: Services, transport: Transport, outbound_id: int) -> datetime | None:
    """Deliver one mail if due; when to try again, or None when done (sent, failed, or not ours now)."""
    return send_batch(svc, transport, [outbound_id]).get(outbound_id)
