"""Route a recorded message: who hears of it, what leaves, what a member asked for.

The table of contents of the committee's side, asked in order; the first handler that applies
takes the message (each handler is a module of ``mailflow.route.handlers`` with its own docstring):
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType

from sqlalchemy import Connection

from mailflow.route.context import RouteContext
from mailflow.route.handlers import direct, excluded, from_outside, internal, relayed, unreadable, unverified
from mailflow.route.mail import CaseMail, Routed

HANDLERS: tuple[ModuleType, ...] = (
    unverified,  # in a member's or a party's name, failing authentication: recorded, flagged, never obeyed
    unreadable,  # a member's mail that could not be read in full: recorded, nothing relayed or obeyed
    from_outside,  # a report or a party's reply: acknowledged (new case), the committee hears of it
    excluded,  # a member kept out of the case: nothing relayed or obeyed
    direct,  # a member's own mail to outside parties, conduct@ in Cc: checked after the fact
    relayed,  # a member's mail to an outside conversation (or, submitted, to outside people): through the gate
    internal,  # a member's mail to the internal address: approvals, releases, commands, notes
)


def route(conn: Connection, ctx: RouteContext, mail: CaseMail, *, now: datetime) -> Routed:
    for handler in HANDLERS:
        if handler.applies(conn, ctx, mail):
            routed: Routed = handler.process(conn, ctx, mail, now=now)
            return routed
    return Routed()
