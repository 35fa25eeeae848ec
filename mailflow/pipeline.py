"""The spine, read top to bottom: one inbound message from spool to outbox.

    spool -> parse -> classify -> authenticate -> thread -> record -> route -> policy gate -> outbox

Routing: a new case's reporter is acknowledged; every recorded message reaches the committee
members who may see the case (fan-out); a member's mail is internal, a command, or a relay to an
outside conversation after the policy gate (``route/committee.py``).

``process_batch`` is what the intake actor runs for the ids it is handed (those one group commit
of the spool made, so batches grow with the load). Parsing happens outside any lock; threading,
recording and drafting happen in one transaction under the threading lock, so a worker killed
half-way leaves the messages ``received`` and the next sweep does them again.
A message we cannot make sense of is quarantined with its reason and never blocks the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, bindparam, select

from mailflow.auth import DnsFunc, Roster, SenderCheck, check_sender
from mailflow.case.record import Inbound, Recorded, earlier_copy, record
from mailflow.clock import utcnow
from mailflow.config import Settings
from mailflow.database import connection, lock_for_threading
from mailflow.drafting.drafts import DraftingContext
from mailflow.errors import ParseFailure
from mailflow.model import InboundState, MessageKind, OutboundState
from mailflow.model import core as t
from mailflow.outbound.render import Renderer
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.classify import Classification, classify
from mailflow.parse.forward import forwarded_sender
from mailflow.parse.message import Address, ParsedMessage, parse_message
from mailflow.parse.reply import reply_text
from mailflow.route import acknowledge, committee
from mailflow.thread import resolve

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Services:
    """What the pipeline works with, handed in (never looked up)."""

    engine: Engine
    settings: Settings
    renderer: Renderer
    clock: Callable[[], datetime] = utcnow
    dnsfunc: DnsFunc | None = None
    """DKIM key lookups (None: the system resolver); tests hand in their own."""

    @property
    def conduct(self) -> ConductAddress:
        return ConductAddress.parse(self.settings.service.conduct_address)

    @property
    def insiders(self) -> frozenset[str]:
        return frozenset(a.lower() for m in self.settings.committee.members for a in m.addresses)

    @property
    def roster(self) -> Roster:
        return Roster.from_settings(self.settings)

    @property
    def drafting(self) -> DraftingContext:
        """What drafting a notice needs: for the deadlines and the ``drafts`` commands."""
        return DraftingContext(self.settings, self.renderer, self.conduct, self.roster.members)

    def authenticate(self, raw: bytes, submitted_by: str | None) -> SenderCheck:
        return check_sender(
            raw, self.roster, self.settings.authentication, dnsfunc=self.dnsfunc, submitted_by=submitted_by
        )


@dataclass(frozen=True, slots=True)
class Outcome:
    inbound_id: int
    state: InboundState
    case_id: int | None = None
    created: bool = False
    outbound_ids: tuple[int, ...] = ()
    reason: str | None = None
    held: tuple[str, ...] = ()
    """The policy gate's explanation, as SMTP reply lines, when it held a member's mail."""


@dataclass(frozen=True, slots=True)
class _Understood:
    message: ParsedMessage
    classification: Classification
    new_text: str
    sender: SenderCheck
    raw: bytes


def process_inbound(svc: Services, inbound_id: int) -> Outcome:
    return process_batch(svc, [inbound_id])[0]


def process_batch(svc: Services, inbound_ids: Sequence[int]) -> list[Outcome]:
    """Process spooled messages in order: parse each outside any lock, then thread, record and
    draft them all in one transaction (one commit, one turn of the threading lock). Each message
    has its own savepoint, so one that fails unexpectedly is quarantined without undoing the rest."""
    outcomes: dict[int, Outcome] = {}
    ready: list[tuple[Inbound, str | None, _Understood]] = []
    for inbound_id, loaded in _load(svc.engine, inbound_ids).items():
        if isinstance(loaded, Outcome):
            outcomes[inbound_id] = loaded
            continue
        inbound, mail_from, raw = loaded
        try:
            ready.append((inbound, mail_from, understand(raw, mail_from, svc, inbound.submitted_by)))
        except ParseFailure as exc:
            outcomes[inbound_id] = quarantine(svc.engine, inbound_id, str(exc))
        except Exception as exc:  # a parser bug on one message must not block the others
            log.exception("parsing inbound message %s failed", inbound_id)
            outcomes[inbound_id] = quarantine(
                svc.engine, inbound_id, f"unexpected parser error: {exc.__class__.__name__}"
            )
    failed: list[tuple[int, str]] = []
    if ready:
        with connection(svc.engine) as conn:
            lock_for_threading(conn)
            for inbound, mail_from, understood in ready:
                try:
                    with conn.begin_nested():
                        outcomes[inbound.id] = _thread_and_record(conn, svc, inbound, mail_from, understood)
                except Exception as exc:
                    log.exception("recording inbound message %s failed", inbound.id)
                    failed.append((inbound.id, f"unexpected error while threading: {exc.__class__.__name__}"))
    for inbound_id, reason in failed:
        outcomes[inbound_id] = quarantine(svc.engine, inbound_id, reason)
    return [
        outcomes.get(i) or Outcome(i, InboundState.QUARANTINED, reason="no such inbound message") for i in inbound_ids
    ]


def understand(raw: bytes, envelope_from: str | None, svc: Services, submitted_by: str | None = None) -> _Understood:
    """parse -> classify -> reply text -> who sent it: work on the bytes, no database."""
    message = parse_message(raw)
    classification = classify(message, raw, envelope_from=envelope_from)
    return _Understood(message, classification, reply_text(message), svc.authenticate(raw, submitted_by), raw)


_i = t.inbound.c
_LOAD = (
    select(_i.id, _i.state, _i.case_id, _i.rcpt_to, _i.notify, _i.mail_from, _i.origin, _i.size, t.blob.c.data)
    .join(t.blob, t.blob.c.id == _i.blob_id)
    .where(_i.id.in_(bindparam("ids", expanding=True)))
    .order_by(_i.id)
)
_STATE: Select[InboundState, int | None] = select(_i.state, _i.case_id).where(_i.id == bindparam("inbound_id"))
_UPDATE = t.inbound.update().where(_i.id == bindparam("inbound_id"))
_QUARANTINE = (
    t.inbound.update()
    .where(_i.id == bindparam("inbound_id"), _i.state == InboundState.RECEIVED)
    .values(state=InboundState.QUARANTINED, reason=bindparam("reason"), processed_at=bindparam("now"))
)
_BOUNCED = (
    t.outbound.update()
    .where(t.outbound.c.id == bindparam("outbound_id"))
    .values(state=OutboundState.BOUNCED, last_error=bindparam("reason"))
)


def _load(engine: Engine, inbound_ids: Sequence[int]) -> dict[int, tuple[Inbound, str | None, bytes] | Outcome]:
    """The messages still to process, with their bytes; an Outcome for those already done."""
    with connection(engine, read_only=True) as conn:
        rows: Sequence[Row[int, InboundState, int | None, list[str], bool, str | None, dict[str, Any], int, bytes]] = (
            conn.execute(_LOAD, {"ids": list(inbound_ids)}).all()
        )
    loaded: dict[int, tuple[Inbound, str | None, bytes] | Outcome] = {}
    for inbound_id, state, case_id, rcpt_to, notify, mail_from, origin, size, stored in rows:
        # What is understood is what the client sent: the blob less our Received field on top
        # (mailflow.inbound.spool; ``size`` is the length of the bytes as sent).
        raw = stored[len(stored) - size :] if size < len(stored) else stored
        if state != InboundState.RECEIVED:
            loaded[inbound_id] = Outcome(inbound_id, InboundState(state), case_id)
        else:
            submitted_by = (origin or {}).get("submitted_by")
            loaded[inbound_id] = (Inbound(inbound_id, rcpt_to, notify, submitted_by), mail_from, raw)
    return loaded


def _thread_and_record(
    conn: Connection, svc: Services, inbound: Inbound, mail_from: str | None, understood: _Understood
) -> Outcome:
    state, case_id = conn.execute(_STATE, {"inbound_id": inbound.id}).one()
    if state != InboundState.RECEIVED:  # another worker got here first
        return Outcome(inbound.id, InboundState(state), case_id)
    now = svc.clock()
    message, classification = understood.message, understood.classification
    done = {"message_id": message.message_id, "kind": classification.kind, "processed_at": now}
    earlier = earlier_copy(conn, inbound.id, message.message_id)
    if earlier is not None:
        conn.execute(
            _UPDATE,
            {
                "inbound_id": inbound.id,
                "state": InboundState.DUPLICATE,
                "duplicate_of": earlier[0],
                "case_id": earlier[1],
                **done,
            },
        )
        return Outcome(inbound.id, InboundState.DUPLICATE, earlier[1])

    ctx = resolve.Context(svc.conduct, svc.settings.service.subject_tag, svc.insiders)
    thread = resolve.resolve(conn, message, inbound.rcpt_to, ctx)
    forwarded = _forwarded_report(svc, understood) if thread.tier is resolve.Tier.NEW else None
    recorded = record(
        conn,
        inbound,
        message,
        classification,
        thread,
        new_text=understood.new_text,
        insiders=svc.insiders,
        now=now,
        reporter=forwarded,
    )
    case_id = recorded.case.id if recorded.case else None
    conn.execute(_UPDATE, {"inbound_id": inbound.id, "state": InboundState.PROCESSED, "case_id": case_id, **done})
    if classification.kind is MessageKind.BOUNCE and recorded.answered is not None:
        reason = "bounced: " + "; ".join(classification.reasons)
        conn.execute(_BOUNCED, {"outbound_id": recorded.answered.id, "reason": reason[:300]})
    outbound_ids, held = _route(conn, svc, mail_from, inbound, understood, recorded, now, forwarded is not None)
    return Outcome(inbound.id, InboundState.PROCESSED, case_id, recorded.created, outbound_ids, held=held)


def _route(
    conn: Connection,
    svc: Services,
    mail_from: str | None,
    inbound: Inbound,
    understood: _Understood,
    recorded: Recorded,
    now: datetime,
    forwarded: bool = False,
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """What leaves because of this message: the acknowledgement of a new case, the fan-out to the
    committee, and whatever a member's mail asks for. Imported history sends nothing."""
    if recorded.case is None or not inbound.notify:
        return (), ()
    message, classification = understood.message, understood.classification
    head = recorded.diary_head
    drafted: list[int] = []
    if recorded.created and recorded.conversation is not None:
        ack_ctx = acknowledge.AckContext(svc.settings, svc.renderer, svc.conduct)
        reason = acknowledge.withheld_reason(
            conn,
            ack_ctx,
            recorded.case,
            message,
            classification,
            envelope_from=mail_from,
            notify=inbound.notify,
            now=now,
            new_case=True,
        )
        if forwarded:
            reason = "a member forwarded this report: write to the reporter through the case when ready"
        if reason is not None:
            head = acknowledge.note_withheld(conn, recorded.case.id, reason, now, head)
        else:
            ack = acknowledge.acknowledge(
                conn, ack_ctx, recorded.case, recorded.conversation, message, now=now, diary_head=head
            )
            drafted.append(ack.id)
            head = ack.diary_head
    if classification.kind in (MessageKind.BOUNCE, MessageKind.AUTO_REPLY):
        return tuple(drafted), ()  # recorded on the case; not worth a member's attention by mail
    routed = committee.Message(
        recorded.case,
        recorded.conversation,
        message,
        understood.raw,
        understood.new_text,
        understood.sender,
        recorded.created,
        forwarded,
        submitted=inbound.submitted_by is not None,
    )
    ctx = committee.CommitteeContext(svc.settings, svc.conduct, svc.roster.members, svc.renderer)
    result = committee.route(conn, ctx, routed, now=now, head=head)
    held = tuple(line for decision in result.held for line in decision.smtp_lines())
    return (*drafted, *result.outbound_ids), held


def _forwarded_report(svc: Services, understood: _Understood) -> Address | None:
    """The original sender when an authenticated member forwards a report that reached them."""
    if not understood.sender.verified:
        return None
    original = forwarded_sender(understood.raw, understood.message.text)
    if original is None or original.address.lower() in svc.insiders or svc.conduct.accepts(original.address):
        return None
    return original


def quarantine(engine: Engine, inbound_id: int, reason: str) -> Outcome:
    with connection(engine) as conn:
        changed = conn.execute(_QUARANTINE, {"inbound_id": inbound_id, "reason": reason, "now": utcnow()}).rowcount
        if not changed:
            state, case_id = conn.execute(_STATE, {"inbound_id": inbound_id}).one()
            return Outcome(inbound_id, InboundState(state), case_id)
    log.warning("inbound message %s quarantined: %s", inbound_id, reason)
    return Outcome(inbound_id, InboundState.QUARANTINED, reason=reason)
