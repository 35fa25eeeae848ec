"""The way out, as the settings say: a Maildir (tests, local delivery) or an SMTP smarthost, and
a copy of each sent mail in the IMAP Sent folder when ``[outgoing] sent_folder`` is set."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from mailflow.config import Settings
from mailflow.outbound.sent_copy import SentCopyTransport
from mailflow.outbound.transport import MaildirTransport, SmtpTransport, Transport


def transport_from_settings(settings: Settings) -> Transport:
    transport = _transport(settings)
    if settings.outgoing.sent_folder and settings.intake.imap is not None:
        return SentCopyTransport(transport, settings.intake.imap, settings.outgoing.sent_folder)
    return transport


def _transport(settings: Settings) -> Transport:
    spec = settings.outgoing.transport
    if spec.startswith("maildir:"):
        return MaildirTransport(Path(spec.removeprefix("maildir:")))
    parts = urlsplit(spec)
    implicit = parts.scheme == "smtps"
    password = settings.outgoing.password.get_secret_value() if settings.outgoing.password else None
    return SmtpTransport(
        parts.hostname or "localhost",
        parts.port or (465 if implicit else 25),
        implicit_tls=implicit,
        starttls=settings.outgoing.starttls and not implicit,
        username=settings.outgoing.username or (unquote(parts.username) if parts.username else None),
        password=password or (unquote(parts.password) if parts.password else None),
        timeout=settings.outgoing.timeout_seconds,
        local_hostname=settings.intake.hostname,
    )
