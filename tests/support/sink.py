"""A real SMTP server on loopback that receives what mailflow sends (aiosmtpd's Controller)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class SinkHandler:
    """Stores every message; ``fail_next`` makes the next N transactions answer ``fail_reply``;
    ``on_message(n)`` runs once the n-th message is stored, before the 250 is written (a test kills
    the sender there: the smarthost has the mail, the sender never hears so)."""

    received: list[Received] = field(default_factory=list)
    fail_next: int = 0
    fail_reply: str = "451 4.3.0 try again later"
    on_message: Callable[[int], None] | None = None
    before_store: Callable[[Any, int], str | None] | None = None
    """Called with the SMTP server and the transaction's number first: a reply to answer instead
    of storing (a refusal; the test may also close the connection), or None to store."""
    transactions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.transactions += 1
            if self.before_store is not None:
                instead = self.before_store(server, self.transactions)
                if instead is not None:
                    return instead
            if self.fail_next > 0:
                self.fail_next -= 1
                return self.fail_reply
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
            count = len(self.received)
        if self.on_message is not None:
            self.on_message(count)
        return "250 2.0.0 Ok: queued"

    def message_ids(self) -> list[str]:
        from tests.support.mail import header

        with self.lock:
            return [header(r.data, "Message-ID") for r in self.received]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sink:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = SinkHandler()
        self._controller: Controller | None = None

    def start(self) -> Sink:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        return self.handler.received
