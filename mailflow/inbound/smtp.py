"""The SMTP and LMTP front end (aiosmtpd): a cheap recipient check, the spool, and a 250 after commit.

The authoritative work (parsing, threading) happens later in a worker; here we only refuse what we
can refuse simply (RFC 5321 §6.1: once we say 250 the message is our responsibility, so we say it
only after the bytes are committed).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SMTPEnvelope

from mailflow import replies
from mailflow.errors import TemporaryFailure
from mailflow.inbound.spool import Envelope, GroupCommitSpool
from mailflow.model import InboundSource
from mailflow.parse.addresses import ConductAddress

log = logging.getLogger(__name__)
# aiosmtpd logs envelope addresses and command lines at INFO: a reporter's address must never
# reach a log, so its logger only speaks of problems.
logging.getLogger("mail.log").setLevel(logging.WARNING)

# aiosmtpd's canned replies, given the enhanced status codes of RFC 3463 (it pushes bytes too: AUTH challenges).
_ENHANCED: dict[str | bytes, str] = {
    "552 Error: Too much mail data": replies.TOO_BIG,
    "552 Error: message size exceeds fixed maximum message size": replies.TOO_BIG,
    "500 Line too long (see RFC5321 4.5.3.1.6)": replies.LINE_TOO_LONG,
}

# Real mail breaks RFC 5322's 998-character line limit (long HTML lines, huge headers): accept it.
LINE_LENGTH_LIMIT = 1024 * 1024


class _Enhanced:
    """Mixin: rewrite aiosmtpd's canned replies with enhanced status codes; accept long lines."""

    line_length_limit = LINE_LENGTH_LIMIT

    async def push(self, status: str | bytes) -> None:
        await super().push(_ENHANCED.get(status, status))  # type: ignore[misc]


class IntakeSMTP(_Enhanced, SMTP):
    pass


class IntakeLMTP(_Enhanced, LMTP):
    pass


class IntakeHandler:
    """aiosmtpd handler: accepts the conduct address and its plus-addresses, spools the bytes."""

    def __init__(self, spool: GroupCommitSpool, conduct: ConductAddress, source: InboundSource) -> None:
        self._spool = spool
        self._conduct = conduct
        self._source = source

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self._conduct.accepts(address):
            return replies.NO_SUCH_USER
        envelope.rcpt_tos.append(address)
        return replies.RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SMTPEnvelope) -> str:
        raw = envelope.original_content or b""
        spooled = Envelope(
            source=self._source,
            mail_from=_reverse_path(envelope.mail_from),
            rcpt_to=tuple(envelope.rcpt_tos),
        )
        try:
            accepted = await asyncio.wrap_future(self._spool.submit(raw, spooled))
        except TemporaryFailure as exc:
            log.warning("intake deferred: %s", exc)
            return self._per_recipient(envelope, replies.TRY_AGAIN)
        return self._per_recipient(envelope, replies.queued(accepted.inbound_id))

    def _per_recipient(self, envelope: SMTPEnvelope, reply: str) -> str:
        # LMTP answers DATA once per accepted recipient (RFC 2033 §4.2).
        if self._source is InboundSource.LMTP:
            return "\r\n".join([reply] * max(1, len(envelope.rcpt_tos)))
        return reply


def _reverse_path(mail_from: Any) -> str:
    value = str(mail_from or "").strip()
    return "" if value in ("", "<>") else value


def server_factory(
    spool: GroupCommitSpool,
    conduct: ConductAddress,
    *,
    lmtp: bool,
    max_size: int,
    hostname: str,
) -> Any:
    """A protocol factory for ``loop.create_server``."""
    source = InboundSource.LMTP if lmtp else InboundSource.SMTP
    handler = IntakeHandler(spool, conduct, source)
    protocol = IntakeLMTP if lmtp else IntakeSMTP

    def factory() -> SMTP:
        return protocol(
            handler,
            data_size_limit=max_size,
            hostname=hostname,
            ident="mailflow",
            enable_SMTPUTF8=True,
            decode_data=False,
        )

    return factory
