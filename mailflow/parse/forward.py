"""Who wrote a forwarded report: a member passes on a report that reached them personally.

Jupyter's manual: event delegates "will forward any reports to the Committee"; Django's
guidelines: "forward replies that had the address removed". The original sender, not the member, is the
reporter of the case that opens. Two shapes are recognised: an attached ``message/rfc822`` part,
and an inline forward whose separator and header block (Gmail, Outlook, Apple Mail, Thunderbird,
K-9 and most mobile clients, in their languages: ``mailflow.mime.separators``) names the original
``From:``.
"""

from __future__ import annotations

import re

from mailflow.mime import separators
from mailflow.mime.headers import mailboxes
from mailflow.parse.message import Address, ParsedMessage

_FROM_LINE = re.compile(
    r"^\s*\*?(?:" + separators.FROM_LABELS + r")\*?\s*[:\uff1a]\s*\*?(?P<value>.+?)\*?\s*$", re.IGNORECASE
)
_HEADER_LINES = 12


def forwarded_sender(message: ParsedMessage) -> Address | None:
    """The original sender of a forwarded report, or None when the mail is not a forward."""
    return _attached(message) or _inline(message.text)


def _address(value: str) -> Address | None:
    value = value.replace("[mailto:", "<").replace("]", ">") if "[mailto:" in value else value
    for mailbox in mailboxes([value]):
        if "." in mailbox.address.rpartition("@")[2]:
            return Address(mailbox.name, mailbox.address)
    return None


def _attached(message: ParsedMessage) -> Address | None:
    if message.tree is None:
        return None
    for part in message.tree.walk(into_attached=False):
        if part.content_type == "message/rfc822" and part.attached is not None:
            for sender in part.attached.raw_header_all("from"):
                found = _address(sender)
                if found:
                    return found
    return None


def _inline(text: str) -> Address | None:
    match = separators.FORWARD_START.search(text)
    if match is None:
        return None
    for line in text[match.end() :].lstrip("\r\n").splitlines()[:_HEADER_LINES]:
        line = line.lstrip("> ")
        found = _FROM_LINE.match(line)
        if found:
            return _address(found["value"])
    return None
