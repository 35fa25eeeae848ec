"""The spine, read top to bottom: one inbound message from spool to outbox.

    spool -> parse -> classify -> authenticate -> thread -> record -> route -> policy gate -> outbox

Routing: a new case's reporter is acknowledged; every recorded message reaches the committee
members who may see the case (fan-out); a member's mail is internal, a command, or a relay to an
outside conversation after the policy gate (``route/committee.py``).

``process_batch`` is what the intake actor runs for the ids it is handed (those one group commit
of the spool made, so batches grow with the load). Parsing happens outside any lock; threading,
recording and drafting happen in transactions of up to ``RECORD_CHUNK`` messages under the
threading lock, so a worker killed half-way leaves the rest ``received`` and the next sweep does
them again. Every message has a time budget (``mailflow.budget``).
A message we cannot make sense of is quarantined with its reason and never blocks the next one.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Row, Select, bindparam, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError, ResourceClosedError

from mailflow import budget, metrics
from mailflow.auth import Arrival, SenderCheck
from mailflow.budget import OVER_TIME
from mailflow.clock import utcnow
from mailflow.database import connection, lock_for_threading
from mailflow.errors import ParseFailure, TemporaryFailure
from mailflow.model import AlertKind, InboundSource, InboundState, MessageKind, OutboundState
from mailflow.model import core as t
from mailflow.outbound import alerts
from mailflow.parse.classify import Classification, classify
from mailflow.parse.forward import forwarded_sender
from mailflow.parse.message import Address, ParsedMessage, parse_message
from mailflow.parse.reply import reply_text
from mailflow.record import Inbound, earlier_copy, record
from mailflow.route import router
from mailflow.route.mail import CaseMail
from mailflow.services import Services
from mailflow.thread import resolve

log = logging.getLogger(__name__)


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
    too_complex: str | None = None
    """Why the message is read as its header alone (over its time budget), or None."""


RECORD_CHUNK = 16
"""Messages threaded and recorded per transaction. SQLite has one writer, and the listener's spool
commit (the 250) waits for it: short transactions (some tens of milliseconds) keep intake
answering while processing runs; each commit is cheap (not waited for on disk)."""


@metrics.processed
def process_batch(svc: Services, inbound_ids: Sequence[int]) -> list[Outcome]:
    """Process spooled messages in order: parse each outside any lock, then thread, record and
    draft them, ``RECORD_CHUNK`` to a transaction (one commit, one turn of the threading lock). Each message
    has its own savepoint, so one that fails unexpectedly is quarantined without undoing the rest,
    with the step that failed in its reason.

    Each message also has a time budget (``[queue] message_time_limit_seconds``, and the actor's
    own time limit): one over it is read again as its header alone, with a note in place of its
    content, and recorded as "too complex to read": stored as received, on its case where it
    threads, the reporter acknowledged, the committee's copy saying so, the chairs alerted."""
    seconds = svc.settings.queue.message_time_limit_seconds
    outcomes: dict[int, Outcome] = {}
    ready: list[tuple[Inbound, str | None, _Understood]] = []
    for inbound_id, loaded in _load(svc.engine, inbound_ids).items():
        if isinstance(loaded, Outcome):
            outcomes[inbound_id] = loaded
            continue
        inbound, mail_from, raw = loaded
        step = ["parsing"]
        try:
            with budget.limit(seconds):
                understood = understand(raw, mail_from, svc, inbound.arrival, step)
        except ParseFailure as exc:
            outcomes[inbound_id] = quarantine(svc.engine, inbound_id, str(exc))
            continue
        except OVER_TIME:
            log.warning("inbound message %s over its %g s budget while %s", inbound_id, seconds, step[0])
            try:
                understood = too_complex(raw, mail_from, svc, inbound, f"over its time budget while {step[0]}")
            except (Exception, *OVER_TIME) as exc:  # not even its header could be read in time
                outcomes[inbound_id] = quarantine(
                    svc.engine, inbound_id, f"too complex to read (over its time budget while {step[0]}); "
                    f"its header could not be read either: {exc.__class__.__name__}",
                )  # fmt: skip
                continue
        except Exception as exc:  # a parser bug on one message must not block the others
            _log_failure(inbound_id, step[0], exc)
            failed_while = f"an unexpected error while {step[0]}: {exc.__class__.__name__}"
            try:  # heard all the same: its header alone, with a note for its content
                understood = too_complex(raw, mail_from, svc, inbound, failed_while)
            except (Exception, *OVER_TIME):
                outcomes[inbound_id] = quarantine(svc.engine, inbound_id, failed_while)
                continue
        ready.append((inbound, mail_from, understood))
    failed: list[tuple[int, str]] = []
    for start in range(0, len(ready), RECORD_CHUNK):
        with connection(svc.engine) as conn:
            lock_for_threading(conn)
            for inbound, mail_from, understood in ready[start : start + RECORD_CHUNK]:
                reason = _record_one(conn, svc, inbound, mail_from, understood, seconds, outcomes)
                if reason is not None:
                    failed.append((inbound.id, reason))
    for inbound_id, reason in failed:
        outcomes[inbound_id] = quarantine(svc.engine, inbound_id, reason)
    return [
        outcomes.get(i) or Outcome(i, InboundState.QUARANTINED, reason="no such inbound message") for i in inbound_ids
    ]


def _record_one(
    conn: Connection,
    svc: Services,
    inbound: Inbound,
    mail_from: str | None,
    understood: _Understood,
    seconds: float,
    outcomes: dict[int, Outcome],
) -> str | None:
    """Thread, record and route one message in a savepoint of its own, within its budget. Over it,
    or failing unexpectedly, once more as too complex to read (its header alone, with a note): a
    report is heard even when its content is not. Returns the reason to quarantine it, or None."""
    step = ["threading"]
    try:
        with budget.limit(seconds), conn.begin_nested():
            outcomes[inbound.id] = _thread_and_record(conn, svc, inbound, mail_from, understood, step)
        return None
    except OVER_TIME:
        log.warning("inbound message %s over its %g s budget while %s", inbound.id, seconds, step[0])
        why = f"over its time budget while {step[0]}"
    except Exception as exc:
        _raise_if_outage(exc)
        _log_failure(inbound.id, step[0], exc)
        why = f"an unexpected error while {_failed_step(exc, step[0])}: {exc.__class__.__name__}"
    if understood.too_complex is not None:
        return f"too complex to read ({understood.too_complex}; then {why})"
    step = ["threading"]
    try:
        simpler = too_complex(understood.raw, mail_from, svc, inbound, why)
        with budget.limit(seconds), conn.begin_nested():
            outcomes[inbound.id] = _thread_and_record(conn, svc, inbound, mail_from, simpler, step)
        return None
    except OVER_TIME:
        return f"too complex to read ({why}; then over its time budget while {step[0]})"
    except Exception as exc:
        _raise_if_outage(exc)
        _log_failure(inbound.id, step[0], exc)
        return f"too complex to read ({why}; then an unexpected error while {_failed_step(exc, step[0])})"


def _raise_if_outage(exc: Exception) -> None:
    """The database going away is no fault of the message: the whole batch is tried again later
    (TemporaryFailure), nothing is quarantined for it."""
    if isinstance(exc, OperationalError | InterfaceError | PendingRollbackError | ResourceClosedError) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    ):
        raise TemporaryFailure(f"database unavailable while processing: {exc.__class__.__name__}") from exc


def _failed_step(exc: BaseException, step: str) -> str:
    """The step as a person names it: routing that failed inside the policy gate is the gate."""
    if step == "routing":
        for frame, _ in traceback.walk_tb(exc.__traceback__):
            if f"{os.sep}mailflow{os.sep}policy{os.sep}" in frame.f_code.co_filename:
                return "the policy gate"
    return step


def _log_failure(inbound_id: int, step: str, exc: BaseException) -> None:
    """Where it failed, without the exception's text (it may quote the message)."""
    where = "".join(traceback.format_tb(exc.__traceback__))
    log.error("inbound message %s failed while %s: %s\n%s", inbound_id, step, exc.__class__.__name__, where)


def understand(
    raw: bytes, envelope_from: str | None, svc: Services, arrival: Arrival, step: list[str] | None = None
) -> _Understood:
    """parse -> classify -> reply text -> who sent it: work on the bytes, no database. ``step``
    (when given) holds the step at work, for the reason of a failure."""
    step = step if step is not None else [""]
    step[0] = "parsing"
    message = parse_message(raw)
    step[0] = "classifying"
    classification = classify(message, envelope_from=envelope_from)
    step[0] = "reading the reply text"
    new_text = reply_text(message)
    step[0] = "authenticating the sender"
    sender = svc.authenticate(message, raw, arrival)
    return _Understood(message, classification, new_text, sender, raw)


TOO_COMPLEX_NOTE = (
    "[mailflow: this message was too complex to read ({why}). It is stored "
    "exactly as it arrived (inbound message {inbound_id}); what it says is not shown here. Read it "
    "with care, from the stored copy.]"
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_FIELDS = re.compile(rb"^content-[a-z-]*:", re.IGNORECASE)


def too_complex(raw: bytes, mail_from: str | None, svc: Services, inbound: Inbound, why: str) -> _Understood:
    """The message as its header alone, with a note for its content: enough to thread it, open
    its case, acknowledge the reporter and tell the committee. Raises when not even that works."""
    end = _HEADER_END.search(raw)
    head = raw[: end.start()] if end else raw
    fields: list[bytes] = []
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        elif line.strip():
            fields.append(line)
    kept = [f for f in fields if not _CONTENT_FIELDS.match(f)]
    note = TOO_COMPLEX_NOTE.format(why=why, inbound_id=inbound.id)
    simple = b"\r\n".join(kept) + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + note.encode() + b"\r\n"
    with budget.limit(svc.settings.queue.message_time_limit_seconds):
        understood = understand(simple, mail_from, svc, inbound.arrival)
    return dataclasses.replace(understood, new_text=note, too_complex=why)


_i = t.inbound.c
_LOAD = (
    select(
        _i.id,
        _i.state,
        _i.case_id,
        _i.rcpt_to,
        _i.notify,
        _i.mail_from,
        _i.origin,
        _i.source,
        _i.size,
        _i.sha256,
        t.blob.c.data,
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
            Row[
                int,
                InboundState,
                int | None,
                list[str],
                bool,
                str | None,
                dict[str, Any],
                InboundSource,
                int,
                str,
                bytes,
            ]
        ] = conn.execute(_LOAD, {"ids": list(inbound_ids)}).all()
    loaded: dict[int, tuple[Inbound, str | None, bytes] | Outcome] = {}
    for inbound_id, state, case_id, rcpt_to, notify, mail_from, origin, source, size, sha256, stored in rows:
        # What is understood is what the client sent: the blob less our Received field on top
        # (mailflow.inbound.spool; ``size`` is the length of the bytes as sent).
        raw = stored[len(stored) - size :] if size < len(stored) else stored
        if state != InboundState.RECEIVED:
            loaded[inbound_id] = Outcome(inbound_id, InboundState(state), case_id)
        else:
            origin = origin or {}
            arrival = Arrival(InboundSource(source), origin.get("peer"), origin.get("submitted_by"))
            loaded[inbound_id] = (Inbound(inbound_id, rcpt_to, notify, arrival, sha256), mail_from, raw)
    return loaded


def _thread_and_record(
    conn: Connection, svc: Services, inbound: Inbound, mail_from: str | None, understood: _Understood, step: list[str]
) -> Outcome:
    state, case_id = conn.execute(_STATE, {"inbound_id": inbound.id}).one()
    if state != InboundState.RECEIVED:  # another worker got here first
        return Outcome(inbound.id, InboundState(state), case_id)
    now = svc.clock()
    message, classification = understood.message, understood.classification
    done = {
        "message_id": message.message_id,
        "kind": classification.kind,
        "processed_at": now,
        "reason": f"too complex to read ({understood.too_complex})" if understood.too_complex else None,
    }
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
    step[0] = "recording"
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
    if understood.too_complex:
        alerts.raise_alert(
            conn, AlertKind.TOO_COMPLEX, f"a message was too complex to read ({understood.too_complex}); "
            "it is recorded without its content", case_id=case_id, inbound_id=inbound.id, now=now,
        )  # fmt: skip
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
        unread=understood.too_complex,
    )
    step[0] = "routing"
    routed = router.route(conn, svc.route_context, mail, now=now)
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
