"""Messages we could not process: kept raw with the reason, listed for the operator, retryable."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from mailflow.errors import NotFound
from mailflow.model import Blob, InboundMessage, InboundState


@dataclass(frozen=True, slots=True)
class Quarantined:
    id: int
    received_at: datetime
    source: str
    size: int
    sha256: str
    reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_quarantined(session: Session, limit: int = 500) -> list[Quarantined]:
    rows = session.scalars(
        select(InboundMessage)
        .where(col(InboundMessage.state) == InboundState.QUARANTINED)
        .order_by(col(InboundMessage.id).desc())
        .limit(limit)
    )
    return [Quarantined(m.id, m.received_at, m.source.value, m.size, m.sha256, m.reason) for m in rows]  # type: ignore[arg-type]


def _get(session: Session, inbound_id: int) -> InboundMessage:
    inbound = session.get(InboundMessage, inbound_id)
    if inbound is None or inbound.state is not InboundState.QUARANTINED:
        raise NotFound(f"no quarantined message {inbound_id}")
    return inbound


def raw_of(session: Session, inbound_id: int) -> bytes:
    blob = session.get(Blob, _get(session, inbound_id).blob_id)
    assert blob is not None
    return blob.data


def release(session: Session, inbound_id: int) -> None:
    """Put a quarantined message back in line (after a fix): the next sweep processes it again."""
    inbound = _get(session, inbound_id)
    inbound.state = InboundState.RECEIVED
    inbound.reason = None
    session.add(inbound)
