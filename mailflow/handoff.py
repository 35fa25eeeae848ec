"""Where a front end hands a stored message on to processing, through the runtime's entry points.

* **The pipe** (``mailflow ingest``: MTA pipe transports, procmail, scripts, a file). With the
  embedded (in-process) broker there is no worker to hand the id to, so the message is processed
  right here and its acknowledgement sent (``Runtime.hand_on``: after the commit a failure is
  logged and left to the service's sweep, not to the MTA); with Redis or RabbitMQ it is enqueued
  for the workers. Either way the exit status tells the MTA whether to retry: 75 (EX_TEMPFAIL) also
  while the disk is short of ``[intake] min_free_space`` (mailflow.inbound.space). The stored
  message begins with our ``Received: by HOST (mailflow) with local (uid N); DATE``.
* **The submission listener** (a member's outgoing server): the mail is spooled, processed at once
  and answered with the outcome, so that a mail the policy gate holds is refused at SMTP time
  (``550 5.7.1`` with the gate's explanation) and the member's client shows why at once. The bytes
  are committed before anything else, as on the intake listener: a held mail is still recorded in
  the case diary, and the member also gets the explanation by mail. A mail the service could not
  process is kept (quarantined) and refused with ``554 5.6.0``.

The listeners themselves (``mailflow.inbound``) know nothing of the runtime: they are given these.
"""

from __future__ import annotations

import os

from mailflow import replies
from mailflow.config import Settings
from mailflow.inbound import space
from mailflow.inbound.spool import Envelope, Spool
from mailflow.inbound.submission import SubmissionHandler, SubmissionVerdict, Submitted
from mailflow.model import InboundSource, InboundState
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.trace import Trace
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


def submission_handler(runtime: Runtime) -> SubmissionHandler:
    spool = Spool(runtime.engine)
    hostname = runtime.settings.intake.hostname

    def handle(submitted: Submitted) -> SubmissionVerdict:
        origin = {"submitted_by": submitted.login, "peer": submitted.peer, "helo": submitted.helo}
        trace = Trace(by=hostname, protocol="ESMTPSA", helo=submitted.helo, peer=submitted.peer)
        envelope = Envelope(InboundSource.SUBMISSION, submitted.mail_from, submitted.rcpt_to, origin, trace=trace)
        accepted = spool.accept(submitted.raw, envelope)
        [outcome] = runtime.process_now([accepted.inbound_id])
        if outcome.held:
            return SubmissionVerdict(False, replies.SUBMISSION_HELD + "\n" + "\n".join(outcome.held))
        if outcome.state is InboundState.QUARANTINED:
            return SubmissionVerdict(False, replies.SUBMISSION_UNPROCESSED)
        if outcome.case_id is None:
            return SubmissionVerdict(False, replies.SUBMISSION_NO_CASE)
        return SubmissionVerdict(True, replies.SUBMISSION_ACCEPTED)

    return handle
