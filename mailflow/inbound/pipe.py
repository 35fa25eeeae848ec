"""Intake from a pipe (MTA pipe transports, procmail, scripts) or a file: the same spool.

With the embedded (in-process) broker there is no worker to hand the id to, so the message is
processed right here and its acknowledgement sent (``Runtime.hand_on``: after the commit a failure
is logged and left to the service's sweep, not to the MTA); with Redis or RabbitMQ it is enqueued
for the workers. Either way the exit status tells the MTA whether to retry: 75 (EX_TEMPFAIL) also while
the disk is short of ``[intake] min_free_space`` (mailflow.inbound.space).

The stored message begins with our ``Received: by HOST (mailflow) with local (uid N); DATE``.
"""

from __future__ import annotations

import os

from mailflow.config import Settings
from mailflow.inbound import space
from mailflow.inbound.spool import Envelope, Spool
from mailflow.inbound.trace import Trace
from mailflow.model import InboundSource
from mailflow.parse.addresses import ConductAddress
from mailflow.runtime import Runtime

EX_OK, EX_DATAERR, EX_NOUSER = 0, 65, 67


def deliver_from_pipe(
    settings: Settings, raw: bytes, sender: str | None, recipients: tuple[str, ...]
) -> tuple[int, str]:
    """Returns (exit status, one line for the MTA's log). Raises TemporaryFailure to mean 75.

    A refusal's line begins with an RFC 3463 status code: Postfix's pipe(8) puts it in the bounce
    in place of the one it would derive from the exit status."""
    if not raw.strip():
        return EX_DATAERR, "5.6.0 empty message: nothing to deliver"
    if int(settings.intake.max_message_size) < len(raw):
        return EX_DATAERR, "5.3.4 message too big for this service"
    conduct = ConductAddress.parse(settings.service.conduct_address)
    if recipients and not all(conduct.accepts(r) for r in recipients):
        return EX_NOUSER, "5.1.1 recipient is not the conduct address or one of its case addresses"
    room = space.check(settings)
    if not room.ok:
        raise space.NoSpace(room.reason)
    runtime = Runtime.build(settings)
    try:
        trace = Trace(by=settings.intake.hostname, protocol="local", comment=f"uid {os.getuid()}")
        envelope = Envelope(InboundSource.PIPE, mail_from=_reverse_path(sender), rcpt_to=recipients, trace=trace)
        accepted = Spool(runtime.engine).accept(raw, envelope)
        if not accepted.new:
            return EX_OK, f"already stored as message {accepted.inbound_id}"
        runtime.hand_on([accepted.inbound_id])
        return EX_OK, f"stored as message {accepted.inbound_id}"
    finally:
        runtime.close()


def _reverse_path(sender: str | None) -> str | None:
    if sender is None:
        return None
    return "" if sender.strip() in ("", "<>") else sender.strip()
