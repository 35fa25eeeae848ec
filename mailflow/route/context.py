"""What routing works with: the settings, the conduct address, the roster, the templates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from mailflow.auth import RosterMember
from mailflow.case import standing
from mailflow.config import Settings
from mailflow.drafting.context import DraftingContext
from mailflow.outbound.render import Renderer
from mailflow.parse.addresses import ConductAddress
from mailflow.route import fanout, relay
from mailflow.route.acknowledge import AckContext


@dataclass(frozen=True, slots=True)
class RouteContext:
    settings: Settings
    conduct: ConductAddress
    roster: Sequence[RosterMember]
    renderer: Renderer

    @property
    def drafting(self) -> DraftingContext:
        return DraftingContext(self.settings, self.renderer, self.conduct, self.roster)

    @property
    def fanout(self) -> fanout.FanoutContext:
        return fanout.FanoutContext(self.settings, self.conduct, self.roster)

    @property
    def relay(self) -> relay.RelayContext:
        return relay.RelayContext(self.settings, self.conduct, self.roster)

    @property
    def acknowledgement(self) -> AckContext:
        return AckContext(self.settings, self.renderer, self.conduct)

    @property
    def insiders(self) -> frozenset[str]:
        return self.relay.insiders

    def chairs(self, conn: Connection, case_id: int, *, besides: str | None = None) -> list[RosterMember]:
        """The chairs who may act on the case (not excluded), without ``besides``."""
        out = standing.excluded(conn, case_id)
        return [m for m in self.roster if m.role == "chair" and m.name not in out and m.name != besides]

    def member(self, name: str) -> RosterMember | None:
        return next((m for m in self.roster if m.name == name), None)
