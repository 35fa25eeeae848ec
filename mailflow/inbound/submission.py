"""The submission listener: committee members add it as the outgoing server of their mail client.

aiosmtpd with STARTTLS (required before anything else but EHLO/NOOP/QUIT), AUTH PLAIN and LOGIN
checked against the roster's scrypt ``password_hash`` (mailflow.auth.passwords), and nothing sent
without a login (530 5.7.0). The envelope sender and the From header must both be one of the
logged-in member's roster addresses (550 5.7.1 otherwise). What passes is handed, in a worker
thread, to the ``SubmissionHandler`` the service wires in (the policy gate, relay, recording); its
verdict is the SMTP reply, so a held mail's explanation appears in the member's client at once.

Logs name members, never an address, a login or a body.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword, Session
from aiosmtpd.smtp import Envelope as SMTPEnvelope

from mailflow import replies
from mailflow.auth.headers import from_mailbox, header_fields
from mailflow.auth.passwords import hash_password, verify_password
from mailflow.auth.roster import Roster, RosterMember
from mailflow.config import Settings
from mailflow.errors import ConfigError
from mailflow.inbound.smtp import _Enhanced
from mailflow.mime.tree import read_message

log = logging.getLogger(__name__)


class _QuietLoginData(logging.Filter):
    """aiosmtpd warns "Session.login_data is deprecated" on every successful AUTH (its own doing)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Session.login_data is deprecated")


logging.getLogger("mail.log").addFilter(_QuietLoginData())

MAX_REPLY_LINE = 510  # octets per reply line before CRLF (RFC 5321 §4.5.3.1.5: 512 with it)
AUTH_ATTEMPTS_PER_CONNECTION = 5
ACCEPTED = "250 2.0.0 Accepted"
REFUSED = "550 5.7.1 Refused"


@dataclass(frozen=True, slots=True)
class Submitted:
    raw: bytes
    member: RosterMember
    login: str
    """The roster address the member logged in with, lowercased."""
    mail_from: str
    rcpt_to: tuple[str, ...]
    peer: str | None = None
    """The client's IP address."""
    helo: str | None = None
    """The name the client gave in EHLO."""


@dataclass(frozen=True, slots=True)
class SubmissionVerdict:
    accepted: bool
    smtp_reply: str
    """e.g. "250 2.0.0 Accepted" or "550 5.7.1 <explanation>"; line breaks in it become a multi-line reply."""


SubmissionHandler = Callable[[Submitted], SubmissionVerdict]
"""Decides what becomes of a submitted mail. May block: it runs in a worker thread."""


# -- replies ------------------------------------------------------------------------------------

_REPLY_START = re.compile(r"^([2-5][0-9][0-9])(?:[ -]|$)(?:([245]\.[0-9]{1,3}\.[0-9]{1,3})(?: |$))?")


def smtp_reply(reply: str, *, utf8: bool = True) -> str | None:
    """``reply`` as a well-formed (multi-line) SMTP reply, or None if it does not start with a reply code.

    Line breaks (CRLF, LF or CR) separate lines; every line gets the code and the enhanced status
    of the first line, with "-" on all but the last; long lines are wrapped at spaces to stay
    within 512 octets; without SMTPUTF8 (``utf8=False``) accents are dropped and other non-ASCII
    characters become "?".
    """
    lines = reply.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = _REPLY_START.match(lines[0])
    if first is None:
        return None
    code, status = first.group(1), first.group(2)
    tail = f"{status} " if status else ""
    limit = MAX_REPLY_LINE - len(code) - 1 - len(tail)
    texts: list[str] = []
    for line in lines:
        text = _strip_code(line, code, status)
        text = "".join(c if c.isprintable() else " " for c in text).rstrip()
        texts.extend(_wrap(text if utf8 else _ascii(text), limit))
    while len(texts) > 1 and not texts[-1]:
        texts.pop()
    last = len(texts) - 1
    out = [f"{code}{' ' if i == last else '-'}{tail}{text}".rstrip() for i, text in enumerate(texts)]
    return "\r\n".join(out)


def _strip_code(line: str, code: str, status: str | None) -> str:
    match = _REPLY_START.match(line)
    if match and match.group(1) == code:
        line = line[match.end() :]
    elif status and line.startswith(status + " "):
        line = line[len(status) + 1 :]
    return line.strip()


def _wrap(text: str, limit: int) -> list[str]:
    """Split ``text`` at spaces into pieces of at most ``limit`` UTF-8 octets (hard splits for long words)."""
    pieces: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if len(candidate.encode("utf-8")) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = word
        while len(current.encode("utf-8")) > limit:
            cut = limit
            while len(current[:cut].encode("utf-8")) > limit:
                cut -= 1
            pieces.append(current[:cut])
            current = current[cut:]
    pieces.append(current)
    return pieces


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text)
    return "".join(c for c in folded if not unicodedata.combining(c)).encode("ascii", "replace").decode("ascii")


def _final_reply(verdict: SubmissionVerdict, *, utf8: bool) -> str:
    reply = smtp_reply(verdict.smtp_reply, utf8=utf8)
    if reply is None or reply.startswith("2") != verdict.accepted:
        log.error("submission handler returned a reply that does not match its verdict; sending a generic one")
        return ACCEPTED if verdict.accepted else REFUSED
    return reply


# -- the SMTP side ------------------------------------------------------------------------------

_ENHANCED: dict[str | bytes, str | bytes] = {
    "530 Must issue a STARTTLS command first": "530 5.7.0 Must issue a STARTTLS command first",
    "503 Already authenticated": "503 5.5.1 Already authenticated",
}


@dataclass(frozen=True, slots=True)
class _Login:
    member: RosterMember
    login: str


class SubmissionSMTP(_Enhanced, SMTP):
    """aiosmtpd's SMTP with enhanced status codes, and a registry of open connections for shutdown."""

    def __init__(self, *args: Any, connections: set[SubmissionSMTP], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections = connections

    async def push(self, status: str | bytes) -> None:  # AUTH challenges are pushed as bytes
        await super().push(_ENHANCED.get(status, status))

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._connections.add(self)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self._connections.discard(self)
        super().connection_lost(error)


@cache
def _dummy_hash() -> str:
    """Checked against for unknown logins, so they take as long as wrong passwords."""
    return hash_password("not a password of anyone")


class SubmissionHooks:
    """aiosmtpd handler and authenticator: who is logged in, whose addresses they may send as."""

    def __init__(self, roster: Roster, handle: SubmissionHandler) -> None:
        self._roster = roster
        self._handle = handle

    def authenticate(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        try:
            login = auth_data.login.decode("utf-8").strip().lower()
            password = auth_data.password.decode("utf-8")
        except UnicodeDecodeError:
            login, password = "", ""
        member = self._roster.by_address(login) if login else None
        hashed = member.password_hash if member is not None else None
        # Always pay for one scrypt, so a wrong login cannot be told from a wrong password by timing.
        matches = verify_password(password, hashed or _dummy_hash())
        if member is None or hashed is None or not matches:
            log.warning("submission: a login attempt failed (%s)", mechanism)
            return AuthResult(success=False, handled=False)
        log.info("submission: %s logged in", member.name)
        return AuthResult(success=True, auth_data=_Login(member, login))

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, address: str, mail_options: list[str]
    ) -> str:
        login = _logged_in(session)
        if login is None:
            return "530 5.7.0 Authentication required"
        if not login.member.owns(address):
            return (
                f"550 5.7.1 The envelope sender <{_printable(address)}> is not one of your addresses "
                "in the committee roster; send from the address you logged in with"
            )
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 Sender ok"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: SMTPEnvelope, address: str, rcpt_options: list[str]
    ) -> str:
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return replies.RCPT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: SMTPEnvelope) -> str:
        login = _logged_in(session)
        if login is None:
            return "530 5.7.0 Authentication required"
        raw = envelope.original_content or b""
        sender = from_mailbox(header_fields(read_message(raw)))
        if sender.address is None:
            return f"550 5.7.1 The From header is not usable: {sender.problem}"
        if not login.member.owns(sender.address):
            return (
                f"550 5.7.1 The From header <{_printable(sender.address)}> is not one of your addresses "
                "in the committee roster; write from your own address"
            )
        submitted = Submitted(
            raw=raw,
            member=login.member,
            login=login.login,
            mail_from=str(envelope.mail_from or ""),
            rcpt_to=tuple(envelope.rcpt_tos),
            peer=str(session.peer[0]) if isinstance(session.peer, tuple) else None,
            helo="".join(c for c in session.host_name or "" if c.isprintable())[:255],
        )
        try:
            verdict = await asyncio.get_running_loop().run_in_executor(None, self._handle, submitted)
        except Exception:
            log.exception("submission: the handler failed on a mail from %s", login.member.name)
            return replies.TRY_AGAIN
        reply = _final_reply(verdict, utf8=bool(envelope.smtp_utf8))
        log.info("submission: mail from %s %s", login.member.name, "accepted" if verdict.accepted else "refused")
        return reply


def _logged_in(session: Session) -> _Login | None:
    data = session.auth_data if session.authenticated else None
    return data if isinstance(data, _Login) else None


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() and c not in "<>" else "?" for c in text)[:254]


# -- running it ---------------------------------------------------------------------------------


def tls_context(certificate: Path, key: Path) -> ssl.SSLContext:
    """A server context for STARTTLS (TLS 1.2 or later); ConfigError if the files cannot be loaded."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certificate, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"submission: cannot load tls_certificate/tls_key: {exc}") from None
    return context


def submission_factory(
    roster: Roster,
    handle: SubmissionHandler,
    *,
    tls: ssl.SSLContext,
    max_size: int,
    hostname: str,
    connections: set[SubmissionSMTP] | None = None,
) -> Callable[[], SMTP]:
    """A protocol factory for ``loop.create_server`` (mailflow.inbound.smtp.server_factory's sibling)."""
    hooks = SubmissionHooks(roster, handle)
    open_connections: set[SubmissionSMTP] = set() if connections is None else connections

    def factory() -> SMTP:
        return SubmissionSMTP(
            hooks,
            connections=open_connections,
            data_size_limit=max_size,
            hostname=hostname,
            ident="mailflow",
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=tls,
            require_starttls=True,
            auth_required=True,
            auth_require_tls=True,
            authenticator=hooks.authenticate,
            command_call_limit={"AUTH": AUTH_ATTEMPTS_PER_CONNECTION, "*": 10_000},
        )

    return factory


class SubmissionListener:
    """The listener on ``[submission] listen``, in its own event loop thread: ``start()`` ... ``stop()``."""

    def __init__(self, settings: Settings, roster: Roster, handle: SubmissionHandler) -> None:
        submission = settings.submission
        if not submission.listen or submission.tls_certificate is None or submission.tls_key is None:
            raise ConfigError("submission: set listen, tls_certificate and tls_key to run the submission listener")
        host, _, port = submission.listen.rpartition(":")
        self._host, self._port = host.strip("[]"), int(port)
        self._connections: set[SubmissionSMTP] = set()
        self._factory = submission_factory(
            roster,
            handle,
            tls=tls_context(submission.tls_certificate, submission.tls_key),
            max_size=int(settings.intake.max_message_size),
            hostname=settings.intake.hostname,
            connections=self._connections,
        )
        self.port: int | None = None
        """The bound port, once started (useful with port 0)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None

    def start(self) -> SubmissionListener:
        if self._loop is not None:
            return self
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="submission", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            opening = loop.create_server(self._factory, host=self._host, port=self._port)
            self._server = asyncio.run_coroutine_threadsafe(opening, loop).result(timeout=30)
        except BaseException:
            self._stop_loop()
            raise
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("submission listener on %s:%d", self._host, self.port)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), self._loop).result(timeout=30)
        finally:
            self._stop_loop()

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for connection in list(self._connections):
            if connection.transport is not None:
                connection.transport.close()
        await asyncio.sleep(0)  # let connection_lost run
        current = asyncio.current_task()
        pending = [t for t in asyncio.all_tasks() if t is not current]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.get_running_loop().shutdown_default_executor()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        self.port = None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=30)
        loop.close()

    def __enter__(self) -> SubmissionListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
