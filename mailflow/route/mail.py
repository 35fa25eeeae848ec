"""What routing receives and what it answers: a recorded message on its case, and what it drafted."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailflow.auth import SenderCheck
from mailflow.case import service as cases
from mailflow.parse.classify import Classification
from mailflow.parse.message import ParsedMessage
from mailflow.policy.outgoing import Decision
from mailflow.thread.resolve import Thread


@dataclass(frozen=True, slots=True)
class CaseMail:
    """A recorded message, as routing sees it."""

    case: cases.CaseRef
    conversation: cases.ConversationRef | None
    parsed: ParsedMessage
    raw: bytes
    """The message exactly as stored."""
    new_text: str
    sender: SenderCheck
    classification: Classification
    thread: Thread
    created: bool
    """It opened the case."""
    envelope_from: str | None = None
    forwarded: bool = False
    """A member forwarded a report that reached them: the case's reporter is the original sender."""
    submitted: bool = False
    """It came through the submission listener: outside recipients in To/Cc are ours to relay to."""
    unread: str | None = None
    """Why it could not be read in full (over its time budget, or the reading failed): it is
    recorded with a note in place of its content, and nothing of it is relayed or obeyed."""

    @property
    def member(self) -> str | None:
        """The roster name of the authenticated member who wrote it, else None."""
        return self.sender.member.name if self.sender.member is not None and self.sender.verified else None


@dataclass(frozen=True, slots=True)
class Routed:
    outbound_ids: list[int] = field(default_factory=list)
    held: tuple[Decision, ...] = ()
    """What the policy gate held, for the submission listener to answer with at SMTP time."""

    def __add__(self, other: Routed) -> Routed:
        return Routed([*self.outbound_ids, *other.outbound_ids], self.held + other.held)
