"""[outgoing] sent_folder: every mail sent also lands in the provider's Sent folder (a real Dovecot),
and a Sent folder that cannot be reached never holds a delivery up."""

from __future__ import annotations

from mailflow.model import OutboundState
from tests.support.dovecot import DovecotServer
from tests.support.imap import bodies, flags, imap_section, with_mailbox
from tests.support.intake import Intake
from tests.support.mail import report
from tests.support.stack import Stack


def test_every_mail_sent_is_copied_to_the_sent_folder(db_stack: Stack, dovecot: DovecotServer) -> None:
    server = with_mailbox(dovecot)
    intake = Intake(db_stack, intake={"imap": imap_section(server)}, outgoing={"sent_folder": "Sent"})
    try:
        intake.deliver(report(message_id="sent-copy-1@example.net"))
        delivered = db_stack.delivered()
        copies = bodies(server, "Sent")  # the folder was created on first use
        assert delivered and len(copies) == len(delivered)
        assert all(any(mail.endswith(copy) for mail in delivered) for copy in copies)  # mail: + Return-Path
        assert all(f == {rb"\Seen"} for f in flags(server, "Sent").values())

        # With the IMAP server down, mail still goes out; it just has no copy.
        server.stop()
        intake.deliver(report(message_id="sent-copy-2@example.net", sender="Kim <kim@example.net>"))
        assert len(db_stack.delivered()) > len(delivered)
        assert {o.state for o in db_stack.outbound()} == {OutboundState.SENT}
        server.start()
        assert len(bodies(server, "Sent")) == len(copies)
    finally:
        intake.close()
