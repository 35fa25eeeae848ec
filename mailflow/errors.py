"""The small hierarchy of errors mailflow raises on purpose.

Every message here is written for an operator: it says what is wrong and what to do,
and never carries a message body or a reporter's address.
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
