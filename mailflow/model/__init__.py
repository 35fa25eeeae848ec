"""sqlmodel tables and the enumerations stored in them."""

from mailflow.model.tables import (
    Blob,
    Case,
    CaseMessageId,
    Conversation,
    DiaryEntry,
    InboundMessage,
    OutboundMessage,
    Party,
)
from mailflow.model.types import (
    CaseState,
    ConversationKind,
    DiaryKind,
    InboundSource,
    InboundState,
    MessageKind,
    OutboundKind,
    OutboundState,
    PartyRole,
)

__all__ = [
    "Blob",
    "Case",
    "CaseMessageId",
    "CaseState",
    "Conversation",
    "ConversationKind",
    "DiaryEntry",
    "DiaryKind",
    "InboundMessage",
    "InboundSource",
    "InboundState",
    "MessageKind",
    "OutboundKind",
    "OutboundMessage",
    "OutboundState",
    "Party",
    "PartyRole",
]
