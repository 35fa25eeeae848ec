"""The one hierarchy of errors mailflow raises on purpose.

Every message here is written for a person (an operator, a member): it says what is wrong and
what to do, and never carries a message body or a reporter's address.

    MailflowError
    ├── ConfigError                  the configuration is missing or invalid (exit 78)
    ├── TemporaryFailure             a dependency is down: try again (451, exit 75)
    │   └── ImapUnavailable
    ├── ParseFailure                 a message could not be read: it is quarantined
    ├── NotFound                     an operator asked for what does not exist
    ├── TransportError               outgoing mail could not be handed over
    ├── ImapError                    the IMAP server said no
    │   └── ImapUnavailable, ImapLoginFailed, ImapTlsFailed, ImapFolderMissing
    ├── ImportSourceError            a file, directory or folder to import cannot be read
    ├── TemplateError                a notice cannot be rendered
    │   └── HeaderError, NoticeError
    └── Refused                      the manuals' process (or the gate) does not allow it now
        └── CommandError, DraftError, ReleaseRefused, TransitionRefused
"""

from __future__ import annotations


class MailflowError(Exception):
    """Base class for errors mailflow raises deliberately."""


class ConfigError(MailflowError):
    """The configuration file is missing, unreadable or invalid.

    ``problems`` lists ``(key, why)`` pairs so that ``mailflow check-config`` can name each bad key.
    """

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class TemporaryFailure(MailflowError):
    """Something we depend on is down (database, broker, smarthost): try again later."""


class ParseFailure(MailflowError):
    """A message could not be parsed; it is kept raw and quarantined with this reason."""


class NotFound(MailflowError):
    """An operator asked for a case, draft or message that does not exist."""


class TransportError(MailflowError):
    """Outgoing mail could not be handed over.

    ``permanent`` is true when retrying cannot help (a 5xx from the smarthost).
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


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


class ImportSourceError(MailflowError):
    """The file, directory or folder to import cannot be read."""


class TemplateError(MailflowError):
    """A notice's template cannot be rendered."""


class HeaderError(TemplateError):
    """A value meant for a mail header holds a line break."""


class NoticeError(TemplateError):
    """An unknown notice, a missing context key, or a value outside a notice's choices."""


class Refused(MailflowError):
    """What a member or chair asked is not allowed now; the message says why and what is open."""


class CommandError(Refused):
    """A command by mail refused; the message says why and how to give it."""


class DraftError(Refused):
    """A draft that cannot be made, or a decision that cannot be taken; the message says why."""


class ReleaseRefused(Refused):
    """A release that cannot be done (no such held mail, already decided, not a chair's)."""


class TransitionRefused(Refused):
    """A case state the transition table does not allow from the current one."""
