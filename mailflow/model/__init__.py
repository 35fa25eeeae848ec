"""sqlmodel tables and the enumerations stored in them."""

from mailflow.model.tables import (
    Blob,
    Case,
    CaseMember,
    CaseMessageId,
    Conversation,
    DeadlineFired,
    DiaryEntry,
    InboundMessage,
    NoticeDraft,
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
    "CaseMember",
    "CaseMessageId",
    "CaseState",
    "Conversation",
    "ConversationKind",
    "DeadlineFired",
    "DiaryEntry",
    "DiaryKind",
    "InboundMessage",
    "InboundSource",
    "InboundState",
    "MessageKind",
    "NoticeDraft",
    "OutboundKind",
    "OutboundMessage",
    "OutboundState",
    "Party",
    "PartyRole",
]
