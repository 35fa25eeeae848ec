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
import shlex
import socket
import ssl
import subprocess
from collections.abc import Iterator

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, IMAPClientAbortError, IMAPClientError, LoginError

from mailflow.config import ImapSettings
from mailflow.errors import (  # noqa: F401  (raised here; the hierarchy is in errors.py)
    ImapError,
    ImapFolderMissing,
    ImapLoginFailed,
    ImapTlsFailed,
    ImapUnavailable,
    MailflowError,
    TemporaryFailure,
)

TOKEN_COMMAND_SECONDS = 30.0
"""How long ``oauth2_token_command`` may take to print a token."""

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
    oauth = settings.password is None
    try:
        if oauth:
            client.oauth2_login(settings.username, bearer_token(settings))
        else:
            assert settings.password is not None
            client.login(settings.username, settings.password.get_secret_value())
    except LoginError as exc:
        if settings.oauth2_token_command is not None:
            how, check = "the token printed by oauth2_token_command (XOAUTH2)", "oauth2_token_command"
        elif oauth:
            how, check = "the OAuth2 token (XOAUTH2)", "oauth2_token"
        else:
            how, check = "the password", "password (MAILFLOW_INTAKE__IMAP__PASSWORD)"
        raise ImapLoginFailed(
            f"{describe(settings)} refused the login of the configured username with {how}: "
            f"{_server_text(exc)}; check [intake.imap] username and {check}"
        ) from None


def bearer_token(settings: ImapSettings) -> str:
    """The XOAUTH2 token: the configured one, or a fresh one from ``oauth2_token_command``.

    The command runs without a shell, with a time limit; what it prints is never logged or quoted.
    It not starting or printing nothing is a configuration error (ImapLoginFailed); it failing or
    hanging may be the token service being down (ImapUnavailable: the poller tries again later)."""
    if settings.oauth2_token is not None:
        return settings.oauth2_token.get_secret_value()
    assert settings.oauth2_token_command is not None
    argv = shlex.split(settings.oauth2_token_command)
    program = argv[0]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOKEN_COMMAND_SECONDS, check=False)
    except FileNotFoundError:
        raise ImapLoginFailed(f"oauth2_token_command: no program {program!r}; check [intake.imap]") from None
    except PermissionError:
        raise ImapLoginFailed(f"oauth2_token_command: {program!r} is not executable") from None
    except subprocess.TimeoutExpired:
        raise ImapUnavailable(
            f"oauth2_token_command ({program}) printed no token within {TOKEN_COMMAND_SECONDS:g} s"
        ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1][:200]
        raise ImapUnavailable(f"oauth2_token_command ({program}) exited with status {done.returncode}: {last}")
    token = done.stdout.strip()
    if not token or any(ch.isspace() for ch in token):
        raise ImapLoginFailed(
            f"oauth2_token_command ({program}) must print one bearer token and nothing else "
            f"(it printed {len(done.stdout.splitlines())} line(s))"
        )
    return token


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
