"""Which case does a message belong to? One function per tier, tried in order.

1. the return path of one of our mails (``conduct+bounce.TOKEN@``, VERP): a bounce or an
   automatic answer to that mail, on its case;
2. a case address whose token verifies (envelope recipients, then To/Cc/Delivered-To headers).
   When the case's internal address is among them, the internal thread wins: a member's mail with
   the internal address in Cc is never relayed to an outside conversation it also names;
3. In-Reply-To / References against every Message-ID a case has received or sent, but only
   within the people of the conversation that Message-ID belongs to: a member, or someone on that
   conversation. A party of the case citing another conversation's Message-ID goes to their own
   conversation; anyone else who cites it (a third party who saw the report, the reported person
   quoting the reporter's acknowledgement) opens a new case marked possibly related, with the
   Message-ID it cited. Imported history (nothing is sent for it) threads by Message-ID as it was
   written: reconstructing the mailbox's threads faithfully is the point of an import;
4. the subject tag, but only for mail from an address already on that case: references are
   sequential and guessable, so anyone else's tagged mail opens a new case marked possibly related;
5. otherwise a new case.

A token that does not verify counts for nothing: the message is treated as mail to the bare address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, bindparam, select

from mailflow.case import service as cases
from mailflow.model import ConversationKind
from mailflow.model import core as t
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.message import ParsedMessage
from mailflow.parse.subject import find_tag

_o = t.outbound.c
_BY_BOUNCE_TOKEN = select(_o.id, _o.case_id, _o.conversation_id).where(_o.bounce_token == bindparam("token"))


class Tier(StrEnum):
    RETURN_PATH = "return path"
    ADDRESS = "case address"
    REFERENCES = "references"
    SUBJECT_TAG = "subject tag"
    NEW = "new case"


@dataclass(frozen=True, slots=True)
class Thread:
    tier: Tier
    case_id: int | None = None
    conversation_id: int | None = None
    related_case_id: int | None = None
    """For a new case: the case whose tag or Message-ID a stranger's mail carried."""
    outbound_id: int | None = None
    """For the return path: our mail that this message answers."""
    also_addressed: tuple[int, ...] = ()
    """For a case address: the other conversations of the case the mail was also addressed to."""
    cited: str | None = None
    """For a new case: the Message-ID of the other case's conversation that it cited."""


@dataclass(frozen=True, slots=True)
class Context:
    conduct: ConductAddress
    subject_tag: str
    insiders: frozenset[str]
    """Committee members' addresses: on every case they may write to."""
    history: bool = False
    """Imported history: threads by Message-ID as written (nothing is sent for it)."""


def resolve(conn: Connection, message: ParsedMessage, rcpt_to: Iterable[str], ctx: Context) -> Thread:
    rcpt = list(rcpt_to)
    return (
        by_return_path(conn, rcpt, ctx)
        or by_address(conn, message, rcpt, ctx)
        or by_references(conn, message, ctx)
        or by_subject_tag(conn, message, ctx)
    )


def by_return_path(conn: Connection, rcpt_to: list[str], ctx: Context) -> Thread | None:
    for address in rcpt_to:
        token = ctx.conduct.bounce_token(address)
        row = conn.execute(_BY_BOUNCE_TOKEN, {"token": token}).first() if token else None
        if row is not None:
            return Thread(Tier.RETURN_PATH, row[1], row[2], outbound_id=row[0])
    return None


def _candidate_addresses(message: ParsedMessage, rcpt_to: Iterable[str]) -> list[str]:
    found: dict[str, None] = {}
    for address in rcpt_to:
        found.setdefault(address, None)
    for addr in message.recipients:
        found.setdefault(addr.address, None)
    for name in ("delivered-to", "x-original-to", "envelope-to"):
        for value in message.header_all(name):
            found.setdefault(value.strip().strip("<>"), None)
    return list(found)


def by_address(conn: Connection, message: ParsedMessage, rcpt_to: Iterable[str], ctx: Context) -> Thread | None:
    addressed: dict[int, cases.ConversationRef] = {}
    for address in _candidate_addresses(message, rcpt_to):
        token = ctx.conduct.case_token(address)
        if token is None:
            continue
        conv = cases.conversation_by_token(conn, token.ref, token.token)
        if conv is not None:
            addressed.setdefault(conv.id, conv)
    if not addressed:
        return None
    first = next(iter(addressed.values()))
    chosen = next(
        (c for c in addressed.values() if c.case_id == first.case_id and c.kind is ConversationKind.TEAM), first
    )
    others = tuple(c.id for c in addressed.values() if c.case_id == chosen.case_id and c.id != chosen.id)
    return Thread(Tier.ADDRESS, chosen.case_id, chosen.id, also_addressed=others)


def by_references(conn: Connection, message: ParsedMessage, ctx: Context) -> Thread | None:
    rows = cases.cases_by_message_ids(conn, message.thread_ids)
    if not rows:
        return None
    seen = rows[0]
    sender = message.from_addr.address.lower() if message.from_addr else ""
    if seen.conversation_id is None or sender in ctx.insiders or ctx.history:
        return Thread(Tier.REFERENCES, seen.case_id, seen.conversation_id)
    conversations = cases.conversations_of(conn, seen.case_id)
    on_case = cases.known_addresses(conn, seen.case_id)
    for conv, recipients in conversations:
        if conv.id != seen.conversation_id:
            continue
        people = {str(r.get("address", "")).lower() for r in recipients}
        if conv.number == cases.REPORTER_CONVERSATION:
            people |= cases.protected_addresses(conn, seen.case_id)
        if conv.kind is ConversationKind.OUTSIDE and sender in people:
            return Thread(Tier.REFERENCES, seen.case_id, seen.conversation_id)
    if sender and sender in on_case:  # a party of the case: their own conversation, not the one cited
        return Thread(Tier.REFERENCES, seen.case_id, None)
    return Thread(Tier.NEW, related_case_id=seen.case_id, cited=seen.message_id)


def by_subject_tag(conn: Connection, message: ParsedMessage, ctx: Context) -> Thread:
    ref = find_tag(message.subject, ctx.subject_tag)
    case = cases.by_ref(conn, ref) if ref else None
    if case is None:
        return Thread(Tier.NEW)
    sender = message.from_addr.address.lower() if message.from_addr else None
    if sender and (sender in ctx.insiders or sender in cases.known_addresses(conn, case.id)):
        return Thread(Tier.SUBJECT_TAG, case.id, None)
    return Thread(Tier.NEW, related_case_id=case.id)
