"""What a diary entry says: one typed payload per kind of entry.

Every writer of the diary hands :func:`mailflow.case.diary.append` one of these values; its
``detail()`` is the JSON the entry keeps (and that the hash chain covers), and ``read()`` turns a
stored entry's detail back into its payload. The shape of each payload is known here and nowhere
else: code that needs a fact of the case later (a deadline, a waiver, a vote, a permission) reads
the column or table that holds it, never a JSON path of the diary.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from mailflow.model import DiaryKind

__all__ = [
    "AckWithheld",
    "Agreed",
    "ApprovalRefused",
    "AutomaticReport",
    "CommandRun",
    "DeadlineFired",
    "Decided",
    "DeliveryFailed",
    "DirectMail",
    "DraftDecided",
    "DraftRequested",
    "Held",
    "Linked",
    "MemberExcluded",
    "Payload",
    "Proposed",
    "Received",
    "RecipientsChanged",
    "Redacted",
    "Refused",
    "ReleaseRefused",
    "Released",
    "Sent",
    "StateChanged",
    "Unverified",
    "Voted",
    "read",
]


@dataclass(frozen=True, slots=True)
class Payload:
    """The base of every payload: its kind, and its detail as stored."""

    KIND: ClassVar[DiaryKind] = DiaryKind.NOTE
    NAME: ClassVar[str] = ""
    """For a note: what kind of note (kept in the detail as "note")."""

    @property
    def kind(self) -> DiaryKind:
        return self.KIND

    def detail(self) -> dict[str, Any]:
        found = {k: v for k, v in asdict(self).items() if v not in (None, (), [])}
        found = {k: list(v) if isinstance(v, tuple) else v for k, v in found.items()}
        return {"note": self.NAME, **found} if self.NAME else found


@dataclass(frozen=True, slots=True)
class Received(Payload):
    """A message recorded on the case: the report, a reply, an automatic answer, a bounce, list mail."""

    entry_kind: DiaryKind = DiaryKind.MESSAGE
    threaded_by: str = ""
    conversation: int | None = None
    """The conversation's id."""
    classified: str | None = None
    reasons: tuple[str, ...] = ()
    possibly_related_case: int | None = None
    cited_message_id: str | None = None
    also_addressed: tuple[int, ...] = ()

    @property
    def kind(self) -> DiaryKind:
        return self.entry_kind

    def detail(self) -> dict[str, Any]:
        found = Payload.detail(self)
        found.pop("entry_kind", None)
        found.setdefault("conversation", None)
        return found


@dataclass(frozen=True, slots=True)
class Sent(Payload):
    """A mail drafted for sending (its state then, its kind)."""

    KIND = DiaryKind.SENT
    kind_of_mail: str = ""
    state: str = ""

    def detail(self) -> dict[str, Any]:
        return {"kind": self.kind_of_mail, "state": self.state}


@dataclass(frozen=True, slots=True)
class DeliveryFailed(Payload):
    """A mail that could not be delivered (permanently, or after every attempt)."""

    KIND = DiaryKind.DELIVERY_FAILED
    reason: str = ""
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class Held(Payload):
    """A mail the policy gate held: it reached nobody outside."""

    KIND = DiaryKind.HELD
    kind_of_mail: str = ""
    rules: tuple[str, ...] = ()
    summaries: tuple[str, ...] = ()
    author: str | None = None
    draft: int | None = None

    def detail(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind_of_mail, "state": "held"}
        found.update(rules=list(self.rules), summaries=list(self.summaries))
        if self.author:
            found["author"] = self.author
        if self.draft is not None:
            found["draft"] = self.draft
        return found


@dataclass(frozen=True, slots=True)
class Released(Payload):
    """A chair let a held mail go, with the reason."""

    KIND = DiaryKind.RELEASED
    held: int = 0
    rules: tuple[str, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RecipientsChanged(Payload):
    """A conversation's outside recipients changed (the entry's ``to_addrs`` say who is on it now)."""

    KIND = DiaryKind.RECIPIENTS
    conversation: int = 0
    """The conversation's number on the case."""


@dataclass(frozen=True, slots=True)
class CommandRun(Payload):
    """A member's command by mail, and what came of it."""

    KIND = DiaryKind.COMMAND
    command: str = ""
    ok: bool = False
    result: str = ""

    def detail(self) -> dict[str, Any]:
        return {"command": self.command, "ok": self.ok, "result": self.result}


@dataclass(frozen=True, slots=True)
class DeadlineFired(Payload):
    """A deadline of the manuals (or a date a notice promised) passed, and what was done."""

    NAME = "deadline"
    deadline: str = ""
    fired: str = ""


@dataclass(frozen=True, slots=True)
class AckWithheld(Payload):
    NAME = "acknowledgement withheld"
    reason: str = ""


@dataclass(frozen=True, slots=True)
class MemberExcluded(Payload):
    """A member kept out of the case until a chair decides (named in a report)."""

    NAME = "member excluded"
    excluded: str = ""
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AutomaticReport(Payload):
    """A report from an automatic sender (a form): nobody acknowledged; the reporter to confirm."""

    NAME = "automatic report"
    reply_to_named: bool = False
    confirm_with: str = "/party reporter NAME <ADDRESS>"


@dataclass(frozen=True, slots=True)
class Unverified(Payload):
    """Mail in a member's or a party's name that failed authentication."""

    NAME = "unverified"
    unverified: str = ""
    why: str = ""


@dataclass(frozen=True, slots=True)
class Refused(Payload):
    """A member's mail that was not obeyed (they are excluded from the case)."""

    NAME = "refused"
    refused: str = ""


@dataclass(frozen=True, slots=True)
class DirectMail(Payload):
    """A member's own mail to outside parties, checked after the fact."""

    NAME = "direct mail"
    member: str = ""
    violation: bool = False
    rules: tuple[str, ...] = ()
    summaries: tuple[str, ...] = ()
    conversations_named: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ApprovalRefused(Payload):
    NAME = "approval refused"
    why: str = ""
    draft: int | None = None


@dataclass(frozen=True, slots=True)
class ReleaseRefused(Payload):
    NAME = "release refused"
    why: str = ""
    held: int | None = None


@dataclass(frozen=True, slots=True)
class DraftRequested(Payload):
    """A notice drafted and sent to the chairs for approval."""

    NAME = "draft"
    draft: int = 0
    notice: str = ""
    state: str = ""


@dataclass(frozen=True, slots=True)
class DraftDecided(Payload):
    """A chair's decision on a drafted notice."""

    NAME = "draft decided"
    draft: int = 0
    notice: str = ""
    state: str = ""
    edited: bool | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Proposed(Payload):
    """A member proposed a resolution for the committee's vote, and who may vote on it."""

    NAME = "proposal"
    proposal: int = 0
    resolution: str = ""
    text: str = ""
    eligible: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()
    """The members who may not vote, and why (``name: reason``)."""


@dataclass(frozen=True, slots=True)
class Voted(Payload):
    NAME = "vote"
    proposal: int = 0
    choice: str = ""
    why: str = ""
    changed: bool = False


@dataclass(frozen=True, slots=True)
class Decided(Payload):
    """A proposal decided: how, and the tally that decided it."""

    NAME = "decision"
    proposal: int = 0
    resolution: str = ""
    outcome: str = ""
    yes: tuple[str, ...] = ()
    no: tuple[str, ...] = ()
    abstain: tuple[str, ...] = ()
    not_voted: tuple[str, ...] = ()
    eligible: int = 0


@dataclass(frozen=True, slots=True)
class Agreed(Payload):
    """A party's word recorded (mediation, the mediator's report, an apology, no further contact)."""

    NAME = "agreement"
    party: int = 0
    what: str = ""
    entry: int | None = None
    """The diary entry of their word; None when it was withdrawn."""


@dataclass(frozen=True, slots=True)
class StateChanged(Payload):
    """The case changed state, and why (a decision, an enactment, a chair's closing, a reopening)."""

    KIND = DiaryKind.STATE
    state: str = ""
    previous: str = ""
    why: str = ""


@dataclass(frozen=True, slots=True)
class Linked(Payload):
    """Another case was linked to this one (a retaliation for it, the same incident, merged into it)."""

    NAME = "linked"
    link: str = ""
    other: str = ""
    """The other case's reference."""
    said: str = ""


@dataclass(frozen=True, slots=True)
class Redacted(Payload):
    """Retention removed the words and addresses of the entries before this one
    (``mailflow.case.diary.redact``). Each of them keeps its place, its hash and what is left of it;
    ``sealed`` holds (seq, hash, digest of what is left) for each, so the chain still verifies and
    an edit of what is left is still seen."""

    NAME = "redaction"
    sealed: tuple[tuple[int, str, str], ...] = ()
    reason: str = ""
    removed: tuple[str, ...] = ()
    """What was removed, in words (no personal data)."""

    def detail(self) -> dict[str, Any]:
        return {
            "note": self.NAME,
            "sealed": [list(item) for item in self.sealed],
            "reason": self.reason,
            "removed": list(self.removed),
        }


_NOTES: dict[str, type[Payload]] = {
    cls.NAME: cls
    for cls in (
        DeadlineFired,
        AckWithheld,
        MemberExcluded,
        AutomaticReport,
        Unverified,
        Refused,
        DirectMail,
        ApprovalRefused,
        ReleaseRefused,
        DraftRequested,
        DraftDecided,
        Proposed,
        Voted,
        Decided,
        Agreed,
        Linked,
        Redacted,
    )
}
_BY_KIND: dict[DiaryKind, type[Payload]] = {
    DiaryKind.SENT: Sent,
    DiaryKind.HELD: Held,
    DiaryKind.RELEASED: Released,
    DiaryKind.RECIPIENTS: RecipientsChanged,
    DiaryKind.COMMAND: CommandRun,
    DiaryKind.DELIVERY_FAILED: DeliveryFailed,
    DiaryKind.STATE: StateChanged,
}
_RECEIVED = frozenset({DiaryKind.REPORT, DiaryKind.MESSAGE, DiaryKind.AUTO_REPLY, DiaryKind.BOUNCE, DiaryKind.LIST})


def read(kind: DiaryKind, detail: dict[str, Any]) -> Payload | None:
    """The payload of a stored entry (None for an entry written before payloads had types)."""
    try:
        if kind in _RECEIVED:
            values = {k: v for k, v in detail.items() if k in Received.__dataclass_fields__}
            return Received(entry_kind=kind, **_tuples(Received, values))
        if kind is DiaryKind.SENT:
            return Sent(kind_of_mail=detail.get("kind", ""), state=detail.get("state", ""))
        if kind is DiaryKind.HELD:
            fields = {k: v for k, v in detail.items() if k in ("rules", "summaries", "author", "draft")}
            return Held(kind_of_mail=detail.get("kind", ""), **_tuples(Held, fields))
        cls = _BY_KIND.get(kind) or _NOTES.get(str(detail.get("note", "")))
        if cls is None:
            return None
        values = {k: v for k, v in detail.items() if k in cls.__dataclass_fields__}
        return cls(**_tuples(cls, values))
    except TypeError:
        return None


def _tuples(cls: type[Payload], values: dict[str, Any]) -> dict[str, Any]:
    """Lists stored as JSON become the tuples the payload declares (lists of lists: tuples of tuples)."""
    return {k: tuple(_tuple(i) for i in v) if isinstance(v, list) else v for k, v in values.items()}


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
