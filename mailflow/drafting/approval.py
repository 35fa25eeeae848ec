"""A chair's decision by mail: a reply to the approval request, carrying its token.

The first line of the reply says ``approve`` or ``reject REASON``; or the reply holds an edited
notice between the markers of the request, which approves the edit. The token line is kept by
quoting the request. The token counts once: a replayed approval is answered with why.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailflow.drafting.drafts import BEGIN_EDIT, END_EDIT, TOKEN_LINE

_TOKEN = re.compile(rf"^[>\s]*{re.escape(TOKEN_LINE)}\s*([a-z0-9]+)\s*$", re.IGNORECASE | re.MULTILINE)
_VERB = re.compile(r"^\s*(approve|approved|reject|rejected)\b[:\s]*(.*)$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ApprovalReply:
    token: str
    verb: str  # "approve", "reject" or "edit"
    reason: str = ""
    edited_text: str | None = None


def parse(new_text: str, whole_text: str) -> ApprovalReply | None:
    """The decision in a reply, or None when the mail is not an answer to an approval request."""
    tokens = _TOKEN.findall(whole_text)
    if not tokens:
        return None
    token = tokens[0].lower()
    first = next((line for line in new_text.splitlines() if line.strip()), "")
    match = _VERB.match(first)
    if match is not None:
        verb = "approve" if match[1].lower().startswith("approve") else "reject"
        return ApprovalReply(token, verb, reason=match[2].strip())
    edited = _edited(whole_text)
    if edited is not None:
        return ApprovalReply(token, "edit", edited_text=edited)
    return ApprovalReply(token, "unclear")


def _edited(text: str) -> str | None:
    """The text between the first pair of edit markers that the chair wrote (not in a "> " quote)."""
    lines = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
    try:
        start = next(i for i, line in enumerate(lines) if line.strip().lower() == BEGIN_EDIT)
        end = next(i for i, line in enumerate(lines) if i > start and line.strip().lower() == END_EDIT)
    except StopIteration:
        return None
    return "\n".join(lines[start + 1 : end]).strip("\n")
