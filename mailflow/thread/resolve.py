"""Which case does a message belong to? One function per tier, tried in order.

1. a case address whose token verifies (envelope recipients, then To/Cc/Delivered-To headers);
2. In-Reply-To / References against every Message-ID a case has received or sent;
3. the subject tag, but only for mail from an address already on that case: references are
   sequential and guessable, so anyone else's tagged mail opens a new case marked possibly related;
4. otherwise a new case.
A token that does not verify counts for nothing: the message is treated as mail to the bare address.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection

from mailflow.case import service as cases
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.message import ParsedMessage
from mailflow.parse.subject import find_tag


class Tier(StrEnum):
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
    """For a new case: the case whose tag a stranger's mail carried."""


@dataclass(frozen=True, slots=True)
class Context:
    conduct: ConductAddress
    subject_tag: str
    insiders: frozenset[str]
    """Committee members' addresses: on every case they may write to."""


def resolve(conn: Connection, message: ParsedMessage, rcpt_to: Iterable[str], ctx: Context) -> Thread:
    return by_address(conn, message, rcpt_to, ctx) or by_references(conn, message) or by_subject_tag(conn, message, ctx)


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
    for address in _candidate_addresses(message, rcpt_to):
        token = ctx.conduct.case_token(address)
        if token is None:
            continue
        conv = cases.conversation_by_token(conn, token.ref, token.token)
        if conv is not None:
            return Thread(Tier.ADDRESS, conv.case_id, conv.id)
    return None


def by_references(conn: Connection, message: ParsedMessage) -> Thread | None:
    rows = cases.cases_by_message_ids(conn, message.thread_ids)
    return Thread(Tier.REFERENCES, rows[0].case_id, rows[0].conversation_id) if rows else None


def by_subject_tag(conn: Connection, message: ParsedMessage, ctx: Context) -> Thread:
    ref = find_tag(message.subject, ctx.subject_tag)
    case = cases.by_ref(conn, ref) if ref else None
    if case is None:
        return Thread(Tier.NEW)
    sender = message.from_addr.address.lower() if message.from_addr else None
    if sender and (sender in ctx.insiders or sender in cases.known_addresses(conn, case.id)):
        return Thread(Tier.SUBJECT_TAG, case.id, None)
    return Thread(Tier.NEW, related_case_id=case.id)
