"""Who wrote a forwarded report: a member passes on a report that reached them personally.

Jupyter's manual: event delegates "will forward any reports to the Committee"; Django's
guidelines: "forward replies that had the address removed". The original sender, not the member, is the
reporter of the case that opens. Two shapes are recognised: an attached ``message/rfc822`` part,
and an inline forward whose header block (Gmail, Outlook, Apple Mail, Thunderbird, K-9 and most
mobile clients) names the original ``From:``.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import Message
from email.utils import getaddresses
from typing import cast

from mailflow.parse.message import Address

_INLINE_START = re.compile(
    r"^\s*(?:-{2,}\s*(?:Forwarded message|Original Message|Forwarded Message|Weitergeleitete Nachricht"
    r"|Message transféré|Mensaje reenviado|Doorgestuurd bericht)\s*-{2,}|Begin forwarded message:)\s*$",
    re.IGNORECASE | re.MULTILINE,
)
_FROM_LINE = re.compile(r"^\s*(?:\*?From\*?|Von|De|Van|Från)\s*:\s*\*?(?P<value>.+?)\*?\s*$", re.IGNORECASE)
_HEADER_LINES = 12


def forwarded_sender(raw: bytes, text: str) -> Address | None:
    """The original sender of a forwarded report, or None when the mail is not a forward."""
    return _attached(raw) or _inline(text)


def _address(value: str) -> Address | None:
    value = value.replace("[mailto:", "<").replace("]", ">") if "[mailto:" in value else value
    for name, address in getaddresses([value]):
        if "@" in address and "." in address.rpartition("@")[2]:
            local, _, domain = address.rpartition("@")
            return Address(name.strip(), f"{local}@{domain.lower()}")
    return None


def _attached(raw: bytes) -> Address | None:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    for part in message.walk():
        if part.get_content_type() != "message/rfc822":
            continue
        payload = part.get_payload()
        # a parsed message/rfc822 part holds a list of one Message (typeshed allows str items too)
        inner = cast("Message | None", payload[0] if isinstance(payload, list) and payload else None)
        if inner is not None and inner.get("From"):
            found = _address(str(inner.get("From")))
            if found:
                return found
    return None


def _inline(text: str) -> Address | None:
    match = _INLINE_START.search(text)
    if match is None:
        return None
    for line in text[match.end() :].lstrip("\r\n").splitlines()[:_HEADER_LINES]:
        line = line.lstrip("> ")
        found = _FROM_LINE.match(line)
        if found:
            return _address(found["value"])
    return None
