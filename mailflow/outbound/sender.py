"""Send outbox mail: claim a batch (one durable commit), then hand the mails over one by one on
one transport session, recording each outcome in a short commit of its own as soon as the
smarthost has answered, before the next mail goes.

So a crash (kill -9, power) can leave at most the one mail in flight without its outcome: the mails
of the batch already answered are recorded, those not yet sent are still only claimed and go out
once when the claim is released. The one in flight goes out again with the same bytes and
Message-ID (the receiving side can recognise it; the Maildir transport does).

An outcome is never forgotten: when its commit fails (the database restarting, its connections
killed, the disk full) it is tried again, with a growing pause, until it lands; meanwhile nothing
else is sent from this batch. A mail the smarthost accepted is not sent again because our own
bookkeeping failed. When sending stops early (an interruption, the session failing), the claimed
mails not yet handed over are given back at once, due again.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol, TypeVar

from sqlalchemy import Engine

from mailflow import metrics
from mailflow.config import Settings
from mailflow.database import connection
from mailflow.errors import TemporaryFailure, TransportError
from mailflow.model import OutboundState
from mailflow.outbound import outbox
from mailflow.outbound.transport import Transport

log = logging.getLogger(__name__)


class Services(Protocol):
    """What delivery needs of the composition root (mailflow.services.Services), named here so
    that this floor does not import the one above it."""

    @property
    def engine(self) -> Engine: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def clock(self) -> Callable[[], datetime]: ...


T = TypeVar("T")

SAVE_PAUSE_FIRST = 0.05
SAVE_PAUSE_MAX = 5.0
"""Pauses between attempts to save an outcome: doubling from the first to the last."""
CLAIM_RELEASE_PATIENCE = 30.0
"""How long a claim whose commit failed is given back before that is left to the sweep."""


@metrics.timed_delivery
def send_batch(svc: Services, transport: Transport, outbound_ids: Sequence[int]) -> dict[int, datetime]:
    """Deliver those that are due. Returns, for each mail to try again, when."""
    # Durable: everything these mails refer to (their cases, diary entries) is on disk before they leave.
    now = svc.clock()
    try:
        with connection(svc.engine, durable=True) as conn:
            claimed = outbox.claim_many(conn, list(outbound_ids), now)
    except TemporaryFailure:
        # The commit may have landed with only its answer lost: give back what it took, or those
        # mails would wait, claimed by this live process, for STALE_SENDING.
        _give_back(svc, list(outbound_ids), now, patience=CLAIM_RELEASE_PATIENCE)
        raise
    if not claimed:
        return {}
    retry: dict[int, datetime] = {}
    done: set[int] = set()
    try:
        with transport.session() as send:
            for mail in claimed:
                try:
                    refused, error = send(mail.mail_from, mail.recipients, mail.raw, mail.message_id), None
                except TransportError as exc:
                    refused, error = [], exc

                save = functools.partial(_save, svc, mail, refused, error, svc.clock())
                outcome = until_it_lands(save, what=f"the outcome of outbound {mail.id}")
                done.add(mail.id)
                metrics.delivered(outcome.state)
                if error is not None:
                    log.warning(
                        "outbound %s attempt %s: %s -> %s", mail.id, outcome.attempts, error, outcome.state.value
                    )
                if outcome.state is OutboundState.RETRY and outcome.next_attempt_at is not None:
                    retry[mail.id] = outcome.next_attempt_at
    finally:
        unsent = [mail.id for mail in claimed if mail.id not in done]
        if unsent:
            _give_back(svc, unsent)
    return retry


def _save(
    svc: Services, mail: outbox.Claimed, refused: list[str], error: TransportError | None, now: datetime
) -> outbox.Outcome:
    """One outcome, in a short transaction of its own."""
    settings = svc.settings.outgoing
    with connection(svc.engine) as conn:
        return outbox.record_outcome(
            conn,
            mail,
            refused,
            error,
            now=now,
            max_attempts=settings.max_attempts,
            retry_base_seconds=settings.retry_base_seconds,
        )


def until_it_lands(save: Callable[[], T], *, what: str) -> T:
    """Run ``save`` (one short transaction) until it commits. A database outage is waited out; an
    interruption meanwhile (a time limit, a signal turned exception) is held back until the save
    has landed, then raised."""
    pause = SAVE_PAUSE_FIRST
    interrupted: BaseException | None = None
    attempts = 0
    while True:
        try:
            result = save()
        except TemporaryFailure as exc:
            attempts += 1
            if attempts == 1 or attempts % 20 == 0:
                log.warning("saving %s failed (%s); trying again until it lands", what, exc)
            try:
                time.sleep(pause)
            except BaseException as exc:
                interrupted = interrupted or exc
            pause = min(pause * 2, SAVE_PAUSE_MAX)
            continue
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:
            if isinstance(exc, Exception):
                raise
            interrupted = interrupted or exc  # dramatiq's time limit, our own budget
            continue
        if attempts:
            log.info("saved %s after %d failed attempt(s)", what, attempts)
        if interrupted is not None:
            raise interrupted
        return result


def _give_back(
    svc: Services, outbound_ids: list[int], claimed_at: datetime | None = None, *, patience: float = 0.0
) -> None:
    """Claimed but never handed over: due again at once. Tried for ``patience`` seconds while the
    database is away; after that the sweep releases them (STALE_SENDING)."""
    give_up = time.monotonic() + patience
    pause = SAVE_PAUSE_FIRST
    while True:
        try:
            with connection(svc.engine) as conn:
                outbox.unclaim(conn, outbound_ids, claimed_at)
            return
        except TemporaryFailure as exc:
            if time.monotonic() >= give_up:
                log.warning("%d claimed mail(s) left for the sweep: %s", len(outbound_ids), exc)
                return
            time.sleep(pause)
            pause = min(pause * 2, SAVE_PAUSE_MAX)
        except Exception as exc:
            log.warning("%d claimed mail(s) left for the sweep: %s", len(outbound_ids), exc.__class__.__name__)
            return
