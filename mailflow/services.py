"""The composition root's value: what the pipeline, the outbox and the deadlines work with.

Built once per process by ``mailflow.runtime.Runtime`` and handed down as an argument; nothing
below looks it up. It sits below every module that uses it (it imports none of them), so the
import graph runs one way: runtime -> pipeline / outbound -> services.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from mailflow.auth import Arrival, DnsFunc, Roster, SenderCheck, check_sender
from mailflow.clock import utcnow
from mailflow.config import Settings
from mailflow.drafting.drafts import DraftingContext
from mailflow.outbound.render import Renderer
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.message import ParsedMessage
from mailflow.route.context import RouteContext


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
