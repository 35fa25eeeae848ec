"""Handing mail over: to a Maildir any mail reader can open, or to an SMTP smarthost."""

from __future__ import annotations

import hashlib
import os
import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

from mailflow.errors import TransportError

Send = Callable[[str, Sequence[str], bytes, str], list[str]]


class Transport(Protocol):
    def send(self, mail_from: str, recipients: Sequence[str], raw: bytes, message_id: str) -> list[str]:
        """Hand the mail over; returns the recipients that were refused while others were accepted.

        Raises TransportError when nothing was delivered."""

    def session(self) -> AbstractContextManager[Send]:
        """The same ``send`` for several mails in a row (one connection, where there is one)."""


class MaildirTransport:
    """Writes each mail once into ``PATH/new``; the file name comes from the Message-ID, so a retry
    after a crash finds the file already there instead of writing a second copy."""

    def __init__(self, path: Path) -> None:
        self.path = path
        for sub in ("tmp", "new", "cur"):
            (path / sub).mkdir(parents=True, exist_ok=True)

    def filename(self, message_id: str) -> str:
        return hashlib.sha256(message_id.encode("utf-8")).hexdigest()[:32] + ".mailflow"

    @contextmanager
    def session(self) -> Iterator[Send]:
        yield self.send

    def send(self, mail_from: str, recipients: Sequence[str], raw: bytes, message_id: str) -> list[str]:
        name = self.filename(message_id)
        final = self.path / "new" / name
        if final.exists() or (self.path / "cur" / name).exists():
            return []
        tmp = self.path / "tmp" / f"{name}.{os.getpid()}"
        try:
            with open(tmp, "wb") as handle:
                handle.write(b"Return-Path: <" + mail_from.encode() + b">\r\n" + raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(tmp, final)
        except FileExistsError:
            pass
        except OSError as exc:
            raise TransportError(f"cannot write to maildir {self.path}: {exc.strerror}") from None
        finally:
            tmp.unlink(missing_ok=True)
        return []


class SmtpTransport:
    """An SMTP smarthost, with STARTTLS (or implicit TLS for smtps://) and optional login."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        implicit_tls: bool = False,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.implicit_tls, self.starttls = implicit_tls, starttls
        self.username, self.password = username, password
        self.timeout = timeout
        self.tls_context = tls_context or ssl.create_default_context()
        self.local_hostname = local_hostname

    def _connect(self) -> smtplib.SMTP:
        if self.implicit_tls:
            return smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=self.tls_context,
                local_hostname=self.local_hostname,
            )
        client = smtplib.SMTP(self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname)
        if self.starttls:
            client.starttls(context=self.tls_context)
        return client

    def _open(self) -> smtplib.SMTP:
        try:
            client = self._connect()
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportError(f"smarthost {self.host}:{self.port} unreachable: {_describe(exc)}") from None
        if self.username:
            try:
                client.login(self.username, self.password or "")
            except smtplib.SMTPAuthenticationError as exc:
                _close(client)
                raise TransportError(f"smarthost refused our login ({exc.smtp_code})") from None
            except (OSError, smtplib.SMTPException) as exc:
                _close(client)
                raise TransportError(f"smarthost login failed: {_describe(exc)}") from None
        return client

    @contextmanager
    def session(self) -> Iterator[Send]:
        """One connection for several mails (it is reopened if the smarthost drops it)."""
        client: smtplib.SMTP | None = None

        def send(mail_from: str, recipients: Sequence[str], raw: bytes, message_id: str) -> list[str]:
            nonlocal client
            if client is None:
                client = self._open()
            # An internationalised address (RFC 6531) goes only with SMTPUTF8.
            utf8 = not (mail_from.isascii() and all(r.isascii() for r in recipients))
            try:
                refused = client.sendmail(mail_from, list(recipients), raw, mail_options=["SMTPUTF8"] if utf8 else [])
            except smtplib.SMTPNotSupportedError:
                raise TransportError(
                    "smarthost does not take internationalised addresses (SMTPUTF8)", permanent=True
                ) from None
            except smtplib.SMTPRecipientsRefused as exc:
                codes = {code for code, _ in exc.recipients.values()}
                permanent = all(code >= 500 for code in codes)
                raise TransportError(
                    f"smarthost refused every recipient ({sorted(codes)})", permanent=permanent
                ) from None
            except smtplib.SMTPResponseException as exc:
                raise TransportError(f"smarthost answered {exc.smtp_code}", permanent=exc.smtp_code >= 500) from None
            except (OSError, smtplib.SMTPException) as exc:
                _close(client)
                client = None
                raise TransportError(f"smarthost connection failed: {_describe(exc)}") from None
            return sorted(refused)

        try:
            yield send
        finally:
            if client is not None:
                _close(client)

    def send(self, mail_from: str, recipients: Sequence[str], raw: bytes, message_id: str) -> list[str]:
        with self.session() as send:
            return send(mail_from, recipients, raw, message_id)


def _close(client: smtplib.SMTP) -> None:
    try:
        client.quit()
    except (OSError, smtplib.SMTPException):
        client.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else exc.__class__.__name__
