"""What the actors call: the process's runtime, seen through the little they need of it.

The actors are entered by dramatiq with nothing but ids. ``mailflow.runtime.Runtime.install``
binds them to the configured broker and hands itself in here (``bind``); the actors never import
the runtime, so the import graph runs one way: runtime -> actors -> this module.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

from mailflow.errors import MailflowError


class EngineRoom(Protocol):
    """The two entry points (``process_now``, ``deliver``), and the deadlines' check."""

    def process_now(self, inbound_ids: Sequence[int]) -> Sequence[Any]: ...

    def deliver(self, outbound_ids: Sequence[int]) -> None: ...

    def check_deadlines(self) -> None: ...


class NoRuntime(MailflowError):
    pass


_lock = threading.Lock()
_room: EngineRoom | None = None


def set_room(room: EngineRoom | None) -> None:
    global _room
    with _lock:
        _room = room


def unset_room(room: EngineRoom) -> None:
    global _room
    with _lock:
        if _room is room:
            _room = None


def current_room() -> EngineRoom | None:
    return _room


def room() -> EngineRoom:
    found = _room
    if found is None:
        raise NoRuntime("no mailflow runtime installed in this process (Runtime.build(...).install())")
    return found
