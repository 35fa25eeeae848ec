"""The SMTP and LMTP front end (aiosmtpd): cheap checks, the spool, and a 250 after commit.

The authoritative work (parsing, threading) happens later in a worker; here we only refuse what we
can refuse simply (RFC 5321 §6.1: once we say 250 the message is our responsibility, so we say it
only after the bytes are committed).

What an operator limits in ``[intake]``, and the replies (mailflow.replies):

* connections per client address at once (``421 4.7.0`` at connect);
* a command timeout and a data timeout (``421 4.4.2``, then the connection is closed; a message
  whose data did not arrive in time is not stored);
* free space for the database (``452 4.3.1`` at MAIL FROM and at DATA: mailflow.inbound.space);
* messages per envelope sender per hour (``450 4.7.1`` at MAIL FROM: the sender's MTA retries);
* recipients per transaction (``452 4.5.3`` for each one past the limit);
* the size of the message and of its header section (``552 5.3.4``), and its hop count
  (``554 5.4.6``).

Every stored message gets our Received field (mailflow.parse.trace), and its inbound row the
client's address and HELO name (``origin["peer"]``, ``origin["helo"]``).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Session
from aiosmtpd.smtp import Envelope as SMTPEnvelope

from mailflow import replies
from mailflow.config import IntakeSettings
from mailflow.errors import TemporaryFailure
from mailflow.inbound.spool import Envelope, GroupCommitSpool
from mailflow.model import InboundSource
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.trace import Trace

log = logging.getLogger(__name__)
# aiosmtpd logs envelope addresses and command lines at INFO: a reporter's address must never
# reach a log, so its logger only speaks of problems.
logging.getLogger("mail.log").setLevel(logging.WARNING)

# aiosmtpd's canned replies, given the enhanced status codes of RFC 3463 (it pushes bytes too: AUTH challenges).
_ENHANCED: dict[str | bytes, str] = {
    "552 Error: Too much mail data": replies.TOO_BIG,
    "552 Error: message size exceeds fixed maximum message size": replies.TOO_BIG,
    "500 Line too long (see RFC5321 4.5.3.1.6)": replies.LINE_TOO_LONG,
    "500 Command line too long": replies.LINE_TOO_LONG,
}

# Real mail breaks RFC 5322's 998-character line limit (long HTML lines, huge headers): accept it.
LINE_LENGTH_LIMIT = 1024 * 1024

# Received fields beyond this mean a loop (Postfix's hopcount_limit is 50; mail through a few
# relays and list servers has 10 to 20).
MAX_HOPS = 100

_HEADER_END = re.compile(rb"\r?\n\r?\n")
_RECEIVED = re.compile(rb"(?im)^received[ \t]*:")

DNS_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class Limits:
    """``[intake]``'s limits, as the listeners apply them."""

    max_size: int
    max_header_size: int = 1024 * 1024
    max_recipients: int = 50
    command_timeout: float = 300
    data_timeout: float = 600
    max_connections_per_client: int = 20
    max_messages_per_sender_per_hour: int = 100
    reverse_dns: bool = True

    @classmethod
    def from_settings(cls, intake: IntakeSettings) -> Limits:
        return cls(
            max_size=int(intake.max_message_size),
            max_header_size=int(intake.max_header_size),
            max_recipients=intake.max_recipients,
            command_timeout=intake.command_timeout_seconds,
            data_timeout=intake.data_timeout_seconds,
            max_connections_per_client=intake.max_connections_per_client,
            max_messages_per_sender_per_hour=intake.max_messages_per_sender_per_hour,
            reverse_dns=intake.reverse_dns,
        )


class ConnectionCount:
    """Open connections per client address, shared by the listeners of one process."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def enter(self, address: str, limit: int) -> bool:
        """Count one more connection from ``address``; False (and not counted) past ``limit``."""
        if self._open[address] >= limit:
            return False
        self._open[address] += 1
        return True

    def leave(self, address: str) -> None:
        self._open[address] -= 1
        if self._open[address] <= 0:
            del self._open[address]


class SenderRate:
    """Messages accepted per envelope sender over the last hour (a sliding window estimated from
    this hour's and the previous hour's counts, as most rate limiters do: two counters per sender,
    forgotten after two hours). Senders are kept in memory only, never logged."""

    WINDOW = 3600.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._bucket = 0
        self._current: Counter[str] = Counter()
        self._previous: Counter[str] = Counter()

    def _roll(self) -> float:
        now = self._clock()
        bucket = int(now // self.WINDOW)
        if bucket != self._bucket:
            self._previous = self._current if bucket == self._bucket + 1 else Counter()
            self._current = Counter()
            self._bucket = bucket
        return (now % self.WINDOW) / self.WINDOW

    def count(self, sender: str) -> float:
        key = sender.lower()
        with self._lock:
            elapsed = self._roll()
            return self._current[key] + self._previous[key] * (1.0 - elapsed)

    def add(self, sender: str) -> None:
        with self._lock:
            self._roll()
            self._current[sender.lower()] += 1


@dataclass
class Guard:
    """What the listeners of one process share: connection counts, sender rates, the space check."""

    limits: Limits
    space_ok: Callable[[], bool] = lambda: True
    connections: ConnectionCount | None = None
    senders: SenderRate | None = None

    def __post_init__(self) -> None:
        self.connections = self.connections or ConnectionCount()
        self.senders = self.senders or SenderRate()


class _Enhanced:
    """Mixin: rewrite aiosmtpd's canned replies with enhanced status codes; accept long lines."""

    line_length_limit = LINE_LENGTH_LIMIT

    async def push(self, status: str | bytes) -> None:
        await super().push(_ENHANCED.get(status, status))  # type: ignore[misc]


class _Intake(_Enhanced):
    """Mixin for the intake's SMTP and LMTP: timeouts with a 421, connections per client, free
    space at DATA."""

    _guard: Guard
    _counted: str | None = None
    _refusal: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        starttls = getattr(self, "_original_transport", None) is not None
        super().connection_made(transport)  # type: ignore[misc]
        if starttls:
            return  # the same connection after STARTTLS, already counted
        address = _address(transport.get_extra_info("peername"))
        assert self._guard.connections is not None
        if self._guard.connections.enter(address, self._guard.limits.max_connections_per_client):
            self._counted = address
        else:
            self._refusal = replies.TOO_MANY_CONNECTIONS

    def connection_lost(self, error: Exception | None) -> None:
        if self._counted is not None:
            assert self._guard.connections is not None
            self._guard.connections.leave(self._counted)
            self._counted = None
        super().connection_lost(error)  # type: ignore[misc]

    async def _handle_client(self) -> None:
        if self._refusal is not None:
            # Before the greeting (RFC 5321 §3.1: a 421 may replace the 220), then close.
            await self.push(self._refusal)
            self.transport.close()  # type: ignore[attr-defined]
            return
        await super()._handle_client()  # type: ignore[misc]

    def _timeout_cb(self) -> None:
        # aiosmtpd closes silently; say why first (RFC 5321 §4.5.3.2 lets a server close a timed-out
        # connection, with a 421 where it can). Closing flushes the reply, then the handler is
        # cancelled: a message whose data had not all arrived is not stored.
        transport = self.transport  # type: ignore[attr-defined]
        if transport is not None and not transport.is_closing():
            transport.write(replies.TIMEOUT.encode() + b"\r\n")
        super()._timeout_cb()  # type: ignore[misc]

    async def smtp_DATA(self, arg: str) -> None:
        if self.envelope.rcpt_tos and not arg and not self._guard.space_ok():  # type: ignore[attr-defined]
            await self.push(replies.NO_SPACE)
            return
        # From DATA to the final dot: the data timeout, not the command timeout.
        self._reset_timeout(self._guard.limits.data_timeout)  # type: ignore[attr-defined]
        try:
            await super().smtp_DATA(arg)  # type: ignore[misc]
        finally:
            if self.transport is not None:  # type: ignore[attr-defined]
                self._reset_timeout()  # type: ignore[attr-defined]

    async def _call_handler_hook(self, command: str, *args: Any) -> Any:
        if command == "DATA":
            self._reset_timeout()  # type: ignore[attr-defined]  # the data is in: storing it is ours to time
        return await super()._call_handler_hook(command, *args)  # type: ignore[misc]


class IntakeSMTP(_Intake, SMTP):
    def __init__(self, handler: Any, guard: Guard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(handler, timeout=guard.limits.command_timeout, **kwargs)


class IntakeLMTP(_Intake, LMTP):
    def __init__(self, handler: Any, guard: Guard, **kwargs: Any) -> None:
        self._guard = guard
        super().__init__(handler, timeout=guard.limits.command_timeout, **kwargs)


class IntakeHandler:
    """aiosmtpd handler: accepts the conduct address and its plus-addresses, spools the bytes."""

    def __init__(
        self,
        spool: GroupCommitSpool,
        conduct: ConductAddress,
        source: InboundSource,
        guard: Guard | None = None,
        hostname: str = "localhost",
    ) -> None:
        self._spool = spool
        self._conduct = conduct
        self._source = source
        self._guard = guard or Guard(Limits(max_size=0))
        self._hostname = hostname
        self._names: dict[str, str | None] = {}

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, address: str, mail_options: list[str]
    ) -> str:
        if not self._guard.space_ok():
            return replies.NO_SPACE
        assert self._guard.senders is not None
        if self._guard.senders.count(_reverse_path(address)) >= self._guard.limits.max_messages_per_sender_per_hour:
            return replies.SENDER_RATE
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return replies.SENDER_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        if not self._conduct.accepts(address):
            return replies.NO_SUCH_USER
        if len(envelope.rcpt_tos) >= self._guard.limits.max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        envelope.rcpt_tos.append(address)
        return replies.RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SMTPEnvelope) -> str:
        raw = envelope.original_content or b""
        refusal = _header_problem(raw, self._guard.limits.max_header_size)
        if refusal is None and not self._guard.space_ok():
            refusal = replies.NO_SPACE
        if refusal is not None:
            return self._per_recipient(envelope, refusal)
        mail_from = _reverse_path(envelope.mail_from)
        peer = _address(session.peer)
        helo = _printable(session.host_name or "")
        trace = Trace(
            by=self._hostname,
            protocol=_protocol(self._source, session),
            helo=helo,
            peer=peer,
            rdns=await self._reverse_name(peer),
        )
        spooled = Envelope(
            source=self._source,
            mail_from=mail_from,
            rcpt_to=tuple(envelope.rcpt_tos),
            origin={"peer": peer, "helo": helo},
            trace=trace,
        )
        try:
            accepted = await asyncio.wrap_future(self._spool.submit(raw, spooled))
        except TemporaryFailure as exc:
            log.warning("intake deferred: %s", exc)
            return self._per_recipient(envelope, replies.TRY_AGAIN)
        assert self._guard.senders is not None
        self._guard.senders.add(mail_from)
        return self._per_recipient(envelope, replies.queued(accepted.inbound_id))

    async def _reverse_name(self, peer: str) -> str | None:
        """The client's name if its address's PTR name resolves back to the address (else None),
        remembered for the listener's life (at most a few thousand addresses)."""
        if not self._guard.limits.reverse_dns or not peer:
            return None
        if peer in self._names:
            return self._names[peer]
        name = await _confirmed_name(peer)
        if len(self._names) > 4096:
            self._names.clear()
        self._names[peer] = name
        return name

    def _per_recipient(self, envelope: SMTPEnvelope, reply: str) -> str:
        # LMTP answers DATA once per accepted recipient (RFC 2033 §4.2).
        if self._source is InboundSource.LMTP:
            return "\r\n".join([reply] * max(1, len(envelope.rcpt_tos)))
        return reply


def _header_problem(raw: bytes, max_header_size: int) -> str | None:
    """A refusal if the header section is absurd: bigger than the limit, or a loop's hop count."""
    end = _HEADER_END.search(raw, 0, max_header_size + 4)
    if end is None and len(raw) > max_header_size:
        return replies.HEADER_TOO_BIG
    header = raw[: end.start()] if end else raw
    if len(header) > max_header_size:
        return replies.HEADER_TOO_BIG
    if len(_RECEIVED.findall(header)) > MAX_HOPS:
        return replies.TOO_MANY_HOPS
    return None


async def _confirmed_name(peer: str) -> str | None:
    loop = asyncio.get_running_loop()
    try:
        name, _ = await asyncio.wait_for(loop.getnameinfo((peer, 0), socket.NI_NAMEREQD), DNS_TIMEOUT)
        infos = await asyncio.wait_for(loop.getaddrinfo(name, None, proto=socket.IPPROTO_TCP), DNS_TIMEOUT)
    except (OSError, TimeoutError, UnicodeError, ValueError):
        return None
    return name if any(info[4][0] == peer for info in infos) else None


def _protocol(source: InboundSource, session: Session) -> str:
    """RFC 3848's "with" keywords."""
    tls = "S" if session.ssl is not None else ""
    if source is InboundSource.LMTP:
        return f"LMTP{tls}"
    if not session.extended_smtp:
        return "SMTP"
    return f"ESMTP{tls}{'A' if session.authenticated else ''}"


def _address(peer: Any) -> str:
    """The IP address of aiosmtpd's peer (a (host, port) tuple for TCP)."""
    if isinstance(peer, tuple | list) and peer:
        return str(peer[0])
    return str(peer or "")


def _printable(text: str) -> str:
    """A client-given word as stored in origin: printable, no NUL (PostgreSQL JSON), short."""
    return "".join(c for c in text if c.isprintable())[:255]


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
    guard: Guard | None = None,
) -> Any:
    """A protocol factory for ``loop.create_server``; listeners of one process share ``guard``."""
    guard = guard or Guard(Limits(max_size=max_size))
    source = InboundSource.LMTP if lmtp else InboundSource.SMTP
    handler = IntakeHandler(spool, conduct, source, guard, hostname)
    protocol = IntakeLMTP if lmtp else IntakeSMTP

    def factory() -> SMTP:
        return protocol(
            handler,
            guard,
            data_size_limit=max_size,
            hostname=hostname,
            ident="mailflow",
            enable_SMTPUTF8=True,
            decode_data=False,
        )

    return factory
