"""What the policy gate must protect on a case, read from the database.

"Protecting reporters is our first priority. Never forward communication or disclose identities of
reporters outside of the code of conduct committee, without the express written permission of the
person concerned." (Django communications guidelines.) Reporters and harmed persons are protected
with every name, address, alias and phone number the case knows, with everything they gave us
(every body part, subject and attachment text of every message they sent, read by the one MIME
reading, whole: not only the extracted reply) and with the files they sent (by SHA-256); written
permission recorded with ``/permission`` lifts it. The report that opened the case is the first
reporter's, also when a member forwarded it. While a case is under investigation the reported
person's identity is held back from third parties too.

What the committee writes for itself is protected from every party (``CommitteeOnly``): the case's
internal address (which every fan-out copy and approval request carries), approval tokens, every
command line as written, and the words of the committee's reasoning (``/note``, ``/unilateral``,
``/report``, ``/no-right-of-reply``, ``/vote``, ``/urgent``, ``/close``, ``/withdraw``,
``/deadlock``; not ``/propose``, whose resolution the feedback request explains to the parties).
A member's other mail to the internal address is not: notices are drafted from it, and the
committee's own letters are meant to leave once approved.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Select, bindparam, select

from mailflow.case import parties
from mailflow.mime.surfaces import read_surfaces
from mailflow.model import CaseState, ConversationKind, DiaryKind, OutboundKind, PartyRole
from mailflow.model import core as t
from mailflow.policy.exposure import Identity
from mailflow.policy.outgoing import CommitteeOnly, Protected

_d, _i, _o = t.diary.c, t.inbound.c, t.outbound.c
_RECEIVED: Select[int, DiaryKind, str | None, bytes] = (
    select(_d.seq, _d.kind, _d.from_addr, t.blob.c.data)
    .join(t.inbound, t.inbound.c.id == _d.inbound_id)
    .join(t.blob, t.blob.c.id == _i.blob_id)
    .where(_d.case_id == bindparam("case_id"))
    .order_by(_d.seq)
)
_COMMANDS: Select[int, dict[str, object]] = select(_d.seq, _d.detail).where(
    _d.case_id == bindparam("case_id"), _d.kind == DiaryKind.COMMAND
)
_SENT_TO_PEOPLE: Select[list[str], bytes] = (
    select(_o.recipients, t.blob.c.data)
    .join(t.blob, t.blob.c.id == _o.blob_id)
    .where(
        _o.case_id == bindparam("case_id"),
        _o.kind.in_([OutboundKind.ACKNOWLEDGEMENT, OutboundKind.RELAY, OutboundKind.NOTICE]),
    )
)
_TEAM_TOKEN: Select[str] = select(t.conversation.c.token).where(
    t.conversation.c.case_id == bindparam("case_id"), t.conversation.c.kind == ConversationKind.TEAM
)
_APPROVAL_TOKENS: Select[str] = select(t.notice_draft.c.token).where(t.notice_draft.c.case_id == bindparam("case_id"))
_STATE = select(t.cases.c.state).where(t.cases.c.id == bindparam("case_id"))

UNDER_INVESTIGATION = frozenset({CaseState.INVESTIGATING})
_REASONING = frozenset(
    {"note", "unilateral", "report", "no-right-of-reply", "vote", "urgent", "close", "withdraw", "deadlock"}
)
"""Commands whose text is the committee's own reasoning: kept from parties by its words, too."""


@dataclass(frozen=True, slots=True)
class CaseProtection:
    protected: tuple[Protected, ...]
    withheld: tuple[Identity, ...]
    """Identities held back from anyone who is not themselves or a protected person."""
    protected_addresses: frozenset[str]
    committee_only: tuple[CommitteeOnly, ...] = ()
    ours: tuple[str, ...] = ()
    """What the committee sent the protected people (they may quote it back: not their words)."""


def _identity(label: str, party: parties.PartyView) -> Identity:
    return Identity(
        label=label,
        names=(party.name,) if party.name else (),
        addresses=(party.address,) if party.address else (),
        aliases=party.aliases,
    )


@dataclass
class _Gathered:
    texts: list[tuple[str, str]]
    hashes: set[str]


def of_case(conn: Connection, case_id: int) -> CaseProtection:
    state = CaseState(conn.execute(_STATE, {"case_id": case_id}).scalar_one())
    labelled: list[tuple[str, parties.PartyView]] = []
    counts: dict[PartyRole, int] = {}
    for party in parties.of_case(conn, case_id):
        counts[party.role] = counts.get(party.role, 0) + 1
        labelled.append((f"{party.role.value} #{counts[party.role]}", party))
    protected_people = [(label, p) for label, p in labelled if p.role in parties.PROTECTED_ROLES]
    by_address = {p.address.lower(): label for label, p in protected_people if p.address}
    first_reporter = next((label for label, p in protected_people if p.role is PartyRole.REPORTER), None)
    gathered = {label: _Gathered([], set()) for label, _ in protected_people}
    team_token = conn.execute(_TEAM_TOKEN, {"case_id": case_id}).scalar_one()
    secrets = [CommitteeOnly("the case's internal address", team_token)]
    for seq, kind, sender, raw in conn.execute(_RECEIVED, {"case_id": case_id}):
        owner = first_reporter if kind == DiaryKind.REPORT else by_address.get((sender or "").lower())
        if owner is not None:
            _gather(gathered[owner], f"{owner}'s message (diary entry {seq})", raw)
    for seq, detail in conn.execute(_COMMANDS, {"case_id": case_id}):
        line = " ".join(str((detail or {}).get("command") or "").split())
        if not line:
            continue
        secrets.append(CommitteeOnly(f"a command line (diary entry {seq})", line))
        verb, _, said = line.lstrip("/").partition(" ")
        if verb.lower() in _REASONING and said.strip():
            secrets.append(CommitteeOnly(f"a note (diary entry {seq})", said, literal=False))
    secrets.extend(
        CommitteeOnly("an approval token", token) for (token,) in conn.execute(_APPROVAL_TOKENS, {"case_id": case_id})
    )
    protected = tuple(
        Protected(
            _identity(label, party),
            tuple(gathered[label].texts),
            permitted=party.permission_seq is not None,
            hashes=frozenset(gathered[label].hashes),
        )
        for label, party in protected_people
    )
    withheld = tuple(
        _identity(label, p) for label, p in labelled if p.role is PartyRole.REPORTED and state in UNDER_INVESTIGATION
    )
    return CaseProtection(
        protected,
        withheld,
        frozenset(by_address),
        tuple(secrets),
        _sent_to(conn, case_id, frozenset(by_address)),
    )


def _gather(into: _Gathered, label: str, raw: bytes) -> None:
    """Everything of one message a protected person sent: subject, every body part, every
    attachment's text (the same reading the gate applies to outgoing mail), and its files."""
    seen = read_surfaces(raw, ("Subject",))
    into.texts.extend((label, s.text) for s in seen.surfaces if s.encoded is None and s.text.strip())
    into.hashes.update(sha for _, sha in seen.files)


def _sent_to(conn: Connection, case_id: int, addresses: frozenset[str]) -> tuple[str, ...]:
    if not addresses:
        return ()
    texts: list[str] = []
    for recipients, raw in conn.execute(_SENT_TO_PEOPLE, {"case_id": case_id}):
        if any(str(r).lower() in addresses for r in recipients or ()):
            seen = read_surfaces(raw, ())
            texts.extend(s.text for s in seen.surfaces if s.body)
    return tuple(texts)
