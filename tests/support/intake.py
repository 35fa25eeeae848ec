"""The pipeline without the listeners: spool a message, process it now, send what it drafted
(``Runtime.process_now``, as the actors do; ``send=False`` stops after the pipeline).

Synchronous and deterministic, on a real database; for the rules of threading, de-duplication
and acknowledgement. The SMTP path itself is covered by tests/e2e."""

from __future__ import annotations

from typing import Any

from mailflow.inbound.spool import Envelope, Spool
from mailflow.model import InboundSource
from mailflow.pipeline import Outcome
from mailflow.runtime import Runtime
from tests.support.stack import CONDUCT, Stack


class Intake:
    def __init__(self, stack: Stack, **overrides: Any) -> None:
        self.runtime = Runtime.build(stack.settings(**overrides))
        self.spool = Spool(self.runtime.engine)

    def deliver(
        self,
        raw: bytes,
        *,
        mail_from: str | None = "jane@example.net",
        rcpt_to: tuple[str, ...] = (CONDUCT,),
        source: InboundSource = InboundSource.SMTP,
        notify: bool = True,
        send: bool = True,
    ) -> Outcome:
        accepted = self.spool.accept(raw, Envelope(source, mail_from, rcpt_to, notify=notify))
        [outcome] = self.runtime.process_now([accepted.inbound_id], send=send)
        return outcome

    def close(self) -> None:
        self.runtime.close()
