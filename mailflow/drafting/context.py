"""What drafting works with: the settings, the templates, the conduct address, the roster."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mailflow.auth import RosterMember
from mailflow.config import Settings
from mailflow.outbound.render import Renderer
from mailflow.parse.addresses import ConductAddress


@dataclass(frozen=True, slots=True)
class DraftingContext:
    settings: Settings
    renderer: Renderer
    conduct: ConductAddress
    roster: Sequence[RosterMember]

    @property
    def insiders(self) -> frozenset[str]:
        return frozenset({str(self.conduct).lower(), *(a.lower() for m in self.roster for a in m.addresses)})
