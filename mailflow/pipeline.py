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

from mailflow import metrics
from mailflow.auth import Arrival, DnsFunc, Roster, SenderCheck, check_sender
from mailflow.clock import utcnow
from mailflow.config import Settings
from mailflow.database import connection, lock_for_threading
from mailflow.drafting.drafts import DraftingContext
from mailflow.errors import ParseFailure
from mailflow.model import AlertKind, InboundSource, InboundState, MessageKind, OutboundState
from mailflow.model import core as t
from mailflow.outbound import alerts
from mailflow.outbound.render import Renderer
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.classify import Classification, classify
from mailflow.parse.forward import forwarded_sender
from mailflow.parse.message import Address, ParsedMessage, parse_message
from mailflow.parse.reply import reply_text
from mailflow.record import Inbound, earlier_copy, record
from mailflow.route import router
from mailflow.route.context import RouteContext
from mailflow.route.mail import CaseMail
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

    @property
    def route_context(self) -> RouteContext:
        return RouteContext(self.settings, self.conduct, self.roster.members, self.renderer)

    def authenticate(self, message: ParsedMessage, raw: bytes, arrival: Arrival) -> SenderCheck:
        assert message.tree is not None
        return check_sender(
            message.tree, raw, self.roster, self.settings.authentication, arrival=arrival, dnsfunc=self.dnsfunc
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


@metrics.processed
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
            ready.append((inbound, mail_from, understand(raw, mail_from, svc, inbound.arrival)))
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


def understand(raw: bytes, envelope_from: str | None, svc: Services, arrival: Arrival) -> _Understood:
    """parse -> classify -> reply text -> who sent it: work on the bytes, no database."""
    message = parse_message(raw)
    classification = classify(message, envelope_from=envelope_from)
    return _Understood(message, classification, reply_text(message), svc.authenticate(message, raw, arrival), raw)


_i = t.inbound.c
_LOAD = (
    select(
        _i.id, _i.state, _i.case_id, _i.rcpt_to, _i.notify, _i.mail_from, _i.origin, _i.source, _i.size, t.blob.c.data
    )
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
        rows: Sequence[
            Row[int, InboundState, int | None, list[str], bool, str | None, dict[str, Any], InboundSource, int, bytes]
        ] = conn.execute(_LOAD, {"ids": list(inbound_ids)}).all()
    loaded: dict[int, tuple[Inbound, str | None, bytes] | Outcome] = {}
    for inbound_id, state, case_id, rcpt_to, notify, mail_from, origin, source, size, stored in rows:
        # What is understood is what the client sent: the blob less our Received field on top
        # (mailflow.inbound.spool; ``size`` is the length of the bytes as sent).
        raw = stored[len(stored) - size :] if size < len(stored) else stored
        if state != InboundState.RECEIVED:
            loaded[inbound_id] = Outcome(inbound_id, InboundState(state), case_id)
        else:
            origin = origin or {}
            arrival = Arrival(InboundSource(source), origin.get("peer"), origin.get("submitted_by"))
            loaded[inbound_id] = (Inbound(inbound_id, rcpt_to, notify, arrival), mail_from, raw)
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

    ctx = resolve.Context(svc.conduct, svc.settings.service.subject_tag, svc.insiders, history=not inbound.notify)
    thread = resolve.resolve(conn, message, inbound.rcpt_to, ctx)
    forwarded = _forwarded_report(svc, understood) if thread.tier is resolve.Tier.NEW else None
    sender = understood.sender
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
        automatic=classification.kind is MessageKind.AUTO_REPLY,
        unverified=sender.failed or (sender.member is not None and not sender.verified),
    )
    case_id = recorded.case.id if recorded.case else None
    conn.execute(_UPDATE, {"inbound_id": inbound.id, "state": InboundState.PROCESSED, "case_id": case_id, **done})
    if classification.kind is MessageKind.BOUNCE and thread.outbound_id is not None:
        # Only a bounce to the mail's own return path counts (VERP): a forged one quoting a
        # Message-ID to the case address is recorded, and marks nothing.
        reason = "bounced: " + "; ".join(classification.reasons)
        conn.execute(_BOUNCED, {"outbound_id": thread.outbound_id, "reason": reason[:300]})
        alerts.raise_alert(
            conn, AlertKind.BOUNCED, "a mail of ours came back undelivered", case_id=case_id,
            inbound_id=inbound.id, outbound_id=thread.outbound_id, now=now,
        )  # fmt: skip
    if recorded.case is None:
        alerts.raise_alert(
            conn, AlertKind.UNPLACED, f"a {classification.kind.value} message that belongs to no case was stored",
            inbound_id=inbound.id, now=now,
        )  # fmt: skip
        return Outcome(inbound.id, InboundState.PROCESSED, None)
    if not inbound.notify:  # imported history: recorded, nothing sent
        return Outcome(inbound.id, InboundState.PROCESSED, case_id, recorded.created)
    mail = CaseMail(
        case=recorded.case,
        conversation=recorded.conversation,
        parsed=message,
        raw=understood.raw,
        new_text=understood.new_text,
        sender=sender,
        classification=classification,
        thread=thread,
        created=recorded.created,
        envelope_from=mail_from,
        forwarded=forwarded is not None,
        submitted=inbound.submitted_by is not None,
    )
    routed = router.route(conn, svc.route_context, mail, now=now, head=recorded.diary_head)
    held = tuple(line for decision in routed.held for line in decision.smtp_lines())
    return Outcome(inbound.id, InboundState.PROCESSED, case_id, recorded.created, tuple(routed.outbound_ids), held=held)


def _forwarded_report(svc: Services, understood: _Understood) -> Address | None:
    """The original sender when an authenticated member forwards a report that reached them."""
    if not understood.sender.verified:
        return None
    original = forwarded_sender(understood.message)
    if original is None or original.address.lower() in svc.insiders or svc.conduct.accepts(original.address):
        return None
    return original


def quarantine(engine: Engine, inbound_id: int, reason: str) -> Outcome:
    """Keep the message raw with its reason; the chairs hear of it (an alert, in their digest)."""
    now = utcnow()
    with connection(engine) as conn:
        changed = conn.execute(_QUARANTINE, {"inbound_id": inbound_id, "reason": reason, "now": now}).rowcount
        if not changed:
            state, case_id = conn.execute(_STATE, {"inbound_id": inbound_id}).one()
            return Outcome(inbound_id, InboundState(state), case_id)
        alerts.raise_alert(
            conn, AlertKind.QUARANTINED, f"a message could not be processed: {reason}", inbound_id=inbound_id, now=now
        )
    log.warning("inbound message %s quarantined: %s", inbound_id, reason)
    return Outcome(inbound_id, InboundState.QUARANTINED, reason=reason)
