"""What the submission listener does with a member's mail: spool it, process it now, and answer
with the outcome, so that a mail the policy gate holds is refused at SMTP time (``550 5.7.1`` with
the gate's explanation) and the member's client shows why at once.

The bytes are committed before anything else, as on the intake listener: a held mail is still
recorded in the case diary ("the diary records it"), and the member also gets the explanation by
mail. A mail the service could not process is kept (quarantined) and refused with ``554 5.6.0``.
"""

from __future__ import annotations

import logging

from mailflow.inbound.spool import Envelope, Spool
from mailflow.inbound.submission import SubmissionHandler, SubmissionVerdict, Submitted
from mailflow.inbound.trace import Trace
from mailflow.model import InboundSource, InboundState
from mailflow.runtime import Runtime

log = logging.getLogger(__name__)

ACCEPTED = "250 2.0.0 Accepted: recorded, and relayed where it was addressed"


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
            return SubmissionVerdict(
                False, "550 5.7.1 Held by the policy gate; nothing was sent.\n" + "\n".join(outcome.held)
            )
        if outcome.state is InboundState.QUARANTINED:
            return SubmissionVerdict(False, "554 5.6.0 The mail could not be processed; it is kept for the operator")
        if outcome.case_id is None:
            return SubmissionVerdict(False, "550 5.7.1 The mail belongs to no case; nothing was sent")
        return SubmissionVerdict(True, ACCEPTED)

    return handle
