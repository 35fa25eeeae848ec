"""One logged-in IMAP connection to the committee's mailbox, and the errors it can end in.

Everything that can go wrong is turned into one of four typed errors, each with a message for an
operator that names the server and what to check, and never the password, a token or any mail:

* ``ImapUnavailable``: the server cannot be reached or the connection was lost (try again later);
* ``ImapLoginFailed``: the server refused the username, password or token;
* ``ImapTlsFailed``: no TLS could be set up (certificate not trusted, no STARTTLS);
* ``ImapFolderMissing``: a configured folder does not exist.
"""

from __future__ import annotations

import contextlib
import imaplib
import socket
import ssl
from collections.abc import Iterator

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientAbortError, IMAPClientError, LoginError

from mailflow.config import ImapSettings
from mailflow.errors import MailflowError, TemporaryFailure


class ImapError(MailflowError):
    """Talking to the IMAP server failed."""


class ImapUnavailable(ImapError, TemporaryFailure):
    """The server cannot be reached, or dropped the connection: try again later."""


class ImapLoginFailed(ImapError):
    """The server refused our credentials."""


class ImapTlsFailed(ImapError):
    """The connection could not be secured as configured."""


class ImapFolderMissing(ImapError):
    """A folder named in the configuration does not exist on the server."""


# What a lost or refused connection looks like: sockets, TLS records, imaplib's "abort" (EOF, BYE).
NETWORK_ERRORS: tuple[type[BaseException], ...] = (OSError, IMAPClientAbortError, imaplib.IMAP4.abort, EOFError)


def describe(settings: ImapSettings) -> str:
    """The server as named in messages: host, port and security; never the account."""
    return f"IMAP server {settings.host}:{settings.effective_port} ({settings.security})"


def account_key(settings: ImapSettings) -> str:
    """Identifies the mailbox in the watermark table."""
    return f"{settings.host.lower()}:{settings.effective_port}/{settings.username}"


def tls_context(settings: ImapSettings) -> ssl.SSLContext:
    """Certificates verified, host name checked; ``ca_file`` adds a private CA (tests, in-house servers)."""
    context = ssl.create_default_context()
    if settings.ca_file is not None:
        context.load_verify_locations(cafile=str(settings.ca_file))
    return context


def connect(settings: ImapSettings) -> IMAPClient:
    """Connect, secure and log in; raises one of the ImapError types above."""
    where = describe(settings)
    with translated(settings, "connecting"):
        client = IMAPClient(
            settings.host,
            settings.effective_port,
            ssl=settings.security == "tls",
            ssl_context=tls_context(settings) if settings.security == "tls" else None,
            timeout=settings.timeout_seconds,
        )
    client.normalise_times = False  # INTERNALDATE as an aware datetime, not local time
    try:
        with translated(settings, "securing the connection"):
            if settings.security == "starttls":
                if not client.has_capability("STARTTLS"):
                    raise ImapTlsFailed(f'{where} does not offer STARTTLS; use security = "tls" on port 993')
                client.starttls(tls_context(settings))
        with translated(settings, "logging in"):
            _login(client, settings)
    except BaseException:
        close(client)
        raise
    return client


def _login(client: IMAPClient, settings: ImapSettings) -> None:
    try:
        if settings.oauth2_token is not None:
            client.oauth2_login(settings.username, settings.oauth2_token.get_secret_value())
        else:
            assert settings.password is not None  # the settings insist on one of the two
            client.login(settings.username, settings.password.get_secret_value())
    except LoginError as exc:
        how = "the OAuth2 token (XOAUTH2)" if settings.oauth2_token is not None else "the password"
        raise ImapLoginFailed(
            f"{describe(settings)} refused the login of the configured username with {how}: "
            f"{_server_text(exc)}; check [intake.imap] username and "
            + ("oauth2_token" if settings.oauth2_token is not None else "password (MAILFLOW_INTAKE__IMAP__PASSWORD)")
        ) from None


@contextlib.contextmanager
def translated(settings: ImapSettings, doing: str) -> Iterator[None]:
    """Turn what imapclient, imaplib, ssl and socket raise into the typed errors, with the context."""
    where = describe(settings)
    try:
        yield
    except ImapError:
        raise
    except ssl.SSLCertVerificationError as exc:
        raise ImapTlsFailed(
            f"{where}: its certificate is not trusted ({exc.verify_message}); "
            "check the host name, or set ca_file to the CA that signed it"
        ) from None
    except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ssl.SSLSyscallError):
        raise ImapUnavailable(f"{where}: connection lost while {doing} (the TLS session ended)") from None
    except ssl.SSLError as exc:
        raise ImapTlsFailed(f"{where}: TLS failed while {doing} ({exc.reason or exc.__class__.__name__})") from None
    except socket.gaierror as exc:
        raise ImapUnavailable(f"{where}: cannot resolve the host name ({exc.strerror})") from None
    except TimeoutError:
        raise ImapUnavailable(f"{where}: no answer within the timeout while {doing}") from None
    except ConnectionRefusedError:
        raise ImapUnavailable(f"{where}: connection refused (is the server running?)") from None
    except NETWORK_ERRORS as exc:
        raise ImapUnavailable(f"{where}: connection lost while {doing} ({_reason(exc)})") from None
    except CapabilityError as exc:
        raise ImapTlsFailed(f"{where}: the server lacks a capability needed for {doing}: {exc}") from None
    except IMAPClientError as exc:
        raise ImapUnavailable(
            f"{where}: the server answered with an error while {doing}: {_server_text(exc)}"
        ) from None


def close(client: IMAPClient) -> None:
    """Log out politely if the connection still works, then close the socket; never raises."""
    with contextlib.suppress(Exception):
        client.logout()
    with contextlib.suppress(Exception):
        client.shutdown()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip()
    return text[:200] if text else exc.__class__.__name__


def _server_text(exc: BaseException) -> str:
    """The server's own words (e.g. "[AUTHENTICATIONFAILED] Authentication failed."), one short line."""
    text = str(exc).strip()
    for prefix in ("b'", 'b"'):
        if text.startswith(prefix) and text.endswith(text[1]):
            text = text[2:-1]
    return " ".join(text.split())[:200] or exc.__class__.__name__
