"""The router's table (mailflow.route.router.HANDLERS): which handler takes which kind of mail.

The handlers are asked in order and the first whose ``applies`` is true takes the message, so the
order is part of the rules: mail that fails authentication is never obeyed, even when it would
otherwise be a member's command; a member's mail that could not be read to the end is neither
relayed nor obeyed; an excluded member's mail is neither relayed nor obeyed; a report
that opened a case is acknowledged, whoever sent it; a member's own mail to outsiders is checked
after the fact, while the same people addressed through the submission listener are relayed.

Every mail here is real: bytes as our MX (or the submission listener) hands them over, parsed,
classified, authenticated and threaded to a case opened on a migrated database. Only ``applies``
is asked; what each handler then does is covered end to end (tests/e2e).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType

import pytest
from sqlalchemy import Connection

from mailflow.auth import Arrival, Roster, check_sender
from mailflow.case import service as cases
from mailflow.case import standing
from mailflow.config import Settings
from mailflow.model import InboundSource
from mailflow.outbound.render import Renderer
from mailflow.parse.addresses import ConductAddress
from mailflow.parse.classify import classify
from mailflow.parse.forward import forwarded_sender
from mailflow.parse.message import parse_message
from mailflow.route import router
from mailflow.route.context import RouteContext
from mailflow.route.handlers import direct, excluded, from_outside, internal, relayed, unreadable, unverified
from mailflow.route.mail import CaseMail
from mailflow.thread import resolve
from tests.support.committee import ADA, AUTH, BO, MX, REPORTER, member_mail
from tests.support.database import NOW
from tests.support.mail import report
from tests.support.stack import CONDUCT, make_settings

REPORTED = "sam@example.com"
FROM_MX = Arrival(InboundSource.SMTP, peer="127.0.0.1")  # our MX, a trusted relay ([authentication])


@dataclass(frozen=True)
class World:
    """A migrated database with one case opened by Jane's report, and the committee's settings."""

    conn: Connection
    settings: Settings
    ctx: RouteContext
    case: cases.OpenedCase

    @property
    def team_address(self) -> str:
        """The case's internal address: the committee's own thread on the case."""
        return cases.address_of(self.ctx.conduct, self.case.case.ref, self.case.team)

    @property
    def reporter_address(self) -> str:
        """The address of the reporter's conversation: mail to it is relayed to Jane."""
        return cases.address_of(self.ctx.conduct, self.case.case.ref, self.case.reporter_conversation)

    def mail(self, raw: bytes, *, arrival: Arrival = FROM_MX, opened: cases.OpenedCase | None = None) -> CaseMail:
        """``raw`` as the pipeline hands it to routing; ``opened``: the case this very mail opened."""
        parsed = parse_message(raw)
        assert parsed.tree is not None
        roster = Roster.of(tuple(self.ctx.roster))
        sender = check_sender(parsed.tree, raw, roster, self.settings.authentication, arrival=arrival)
        threading = resolve.Context(self.ctx.conduct, self.settings.service.subject_tag, self.ctx.insiders)
        thread = resolve.resolve(self.conn, parsed, [], threading)
        if opened is not None:
            assert thread.tier is resolve.Tier.NEW
            case, conversation = opened.case, opened.reporter_conversation
        else:
            assert thread.case_id == self.case.case.id, "the mail must thread to the case"
            case = self.case.case
            conversation = next(
                (c for c, _ in cases.conversations_of(self.conn, case.id) if c.id == thread.conversation_id), None
            )
        return CaseMail(
            case=case,
            conversation=conversation,
            parsed=parsed,
            raw=raw,
            new_text=parsed.text,
            sender=sender,
            classification=classify(parsed, envelope_from=parsed.from_addr.address if parsed.from_addr else None),
            thread=thread,
            created=opened is not None,
            forwarded=opened is not None and forwarded_sender(parsed) is not None,
            submitted=arrival.submitted_by is not None,
        )

    def open_case_for(self, raw: bytes) -> cases.OpenedCase:
        """Open the case a new report opens (as mailflow.record does), its reporter the original sender."""
        parsed = parse_message(raw)
        reporter = forwarded_sender(parsed) or parsed.from_addr
        return cases.open_case(self.conn, reporter=reporter, subject=parsed.subject, opened_at=NOW)


@pytest.fixture
def world(conn: Connection, tmp_path: Path) -> World:
    settings = make_settings(tmp_path, None, **AUTH)
    roster = Roster.from_settings(settings)
    ctx = RouteContext(settings, ConductAddress.parse(CONDUCT), roster.members, Renderer(settings.templates_dir))
    parsed = parse_message(report(sender=f"Jane Reporter <{REPORTER}>"))
    opened = cases.open_case(conn, reporter=parsed.from_addr, subject=parsed.subject, opened_at=NOW)
    return World(conn, settings, ctx, opened)


# -- the kinds of mail -------------------------------------------------------------------------------


def unverified_member(w: World) -> CaseMail:
    """Ada's address on a mail to the internal address that nothing vouches for (no
    Authentication-Results from our MX): perhaps a forgery, so its commands must not run."""
    return w.mail(member_mail(ADA, w.team_address, "/close nothing to see", auth=None))


def unverified_party(w: World) -> CaseMail:
    """Jane's address on a mail that our MX says fails DMARC for her domain."""
    domain = REPORTER.rpartition("@")[2]
    failed = f"Authentication-Results: {MX}; spf=fail smtp.mailfrom={domain}; dmarc=fail header.from={domain}"
    received = f"Received: from client.example ([192.0.2.9]) by {MX}; Tue, 03 Nov 2026 10:00:00 +0000"
    raw = f"{failed}\r\n{received}\r\n".encode() + report(
        sender=f"Jane Reporter <{REPORTER}>", to=w.reporter_address, subject="Re: hi"
    )
    return w.mail(raw)


def outside_party_reply(w: World) -> CaseMail:
    return w.mail(report(sender=f"Jane Reporter <{REPORTER}>", to=w.reporter_address, subject="Re: your report"))


def report_that_opened_the_case(w: World) -> CaseMail:
    raw = report(sender="Kim Witness <kim@example.org>", subject="Something happened at the meetup")
    return w.mail(raw, opened=w.open_case_for(raw))


def members_forwarded_report(w: World) -> CaseMail:
    """Ada, authenticated, forwards to the conduct address a report that reached her: it opens a case."""
    body = "FYI\n\n---------- Forwarded message ---------\nFrom: Kim Witness <kim@example.org>\n\nThe report.\n"
    raw = member_mail(ADA, CONDUCT, body, subject="Fwd: a report")
    return w.mail(raw, opened=w.open_case_for(raw))


def excluded_member_to_the_team(w: World) -> CaseMail:
    standing.exclude(w.conn, w.case.case.id, "Bo Member", standing.SUSPECTED_PARTY, now=NOW, by="mailflow")
    return w.mail(member_mail(BO, w.team_address, "/note I was there too"))


def excluded_member_to_a_conversation(w: World) -> CaseMail:
    standing.exclude(w.conn, w.case.case.id, "Bo Member", standing.CONFLICT, now=NOW, by="Bo Member")
    return w.mail(member_mail(BO, w.reporter_address, "Dear Jane, about your report ..."))


def members_direct_mail(w: World) -> CaseMail:
    """Ada writes to the reported person from her own mail server, the internal address in Cc."""
    raw = member_mail(ADA, f"Sam <{REPORTED}>", "Dear Sam, ...", headers={"Cc": w.team_address})
    return w.mail(raw)


def members_mail_to_a_conversation(w: World) -> CaseMail:
    return w.mail(member_mail(ADA, w.reporter_address, "Dear Jane, thank you for your report."))


def submitted_mail_to_outsiders(w: World) -> CaseMail:
    """The same mail as a direct one, but through our submission listener: ours to relay."""
    raw = report(sender=f"Ada Chair <{ADA}>", to=f"Sam <{REPORTED}>", body="Dear Sam, ...",
                 headers={"Cc": w.team_address})  # fmt: skip
    return w.mail(raw, arrival=Arrival(InboundSource.SUBMISSION, peer="127.0.0.1", submitted_by=ADA))


def members_unreadable_mail(w: World) -> CaseMail:
    """Ada's mail to Jane's conversation whose reading ran out of time: the gate cannot vouch for it."""
    return replace(members_mail_to_a_conversation(w), unread="over its time budget")


def reporters_unreadable_mail(w: World) -> CaseMail:
    """Jane's reply that could not be read in full: heard as any other reply from outside."""
    return replace(outside_party_reply(w), unread="over its time budget")


def members_internal_mail(w: World) -> CaseMail:
    return w.mail(member_mail(ADA, w.team_address, "/lead Bo Member\n\nBo, can you take this one?"))


# kind of mail -> every handler whose ``applies`` is true, in the router's order: the first takes it.
TABLE: list[tuple[Callable[[World], CaseMail], list[ModuleType]]] = [
    (unverified_member, [unverified, from_outside]),
    (unverified_party, [unverified, from_outside]),
    (outside_party_reply, [from_outside]),
    (report_that_opened_the_case, [from_outside]),
    (members_forwarded_report, [from_outside, relayed]),
    (excluded_member_to_the_team, [excluded, internal]),
    (excluded_member_to_a_conversation, [excluded, relayed]),
    (members_direct_mail, [direct, internal]),
    (members_mail_to_a_conversation, [relayed]),
    (members_unreadable_mail, [unreadable, relayed]),
    (reporters_unreadable_mail, [from_outside]),
    (submitted_mail_to_outsiders, [relayed, internal]),
    (members_internal_mail, [internal]),
]


@pytest.mark.parametrize(("kind", "applying"), TABLE, ids=[kind.__name__ for kind, _ in TABLE])
def test_the_first_handler_that_applies_takes_the_mail(
    world: World, kind: Callable[[World], CaseMail], applying: list[ModuleType]
) -> None:
    # Given a mail of this kind on the case,
    mail = kind(world)
    # when the router asks its handlers in order,
    found = [handler for handler in router.HANDLERS if handler.applies(world.conn, world.ctx, mail)]
    # then the expected one is the first that applies (the others that would apply come after it).
    assert [h.NAME for h in found] == [h.NAME for h in applying]


def test_the_handlers_are_asked_in_the_documented_order() -> None:
    documented = [unverified, unreadable, from_outside, excluded, direct, relayed, internal]
    assert list(router.HANDLERS) == documented
    assert all(callable(getattr(h, "applies", None)) and callable(getattr(h, "process", None)) for h in router.HANDLERS)


def test_how_the_mails_were_understood(world: World) -> None:
    """The facts the table rests on, so that a wrong premise does not pass for a right dispatch."""
    forged = unverified_member(world)
    assert forged.sender.member is not None and not forged.sender.verified and forged.member is None
    assert unverified_party(world).sender.failed
    reply = outside_party_reply(world)
    assert reply.member is None and reply.conversation == world.case.reporter_conversation
    forwarded = members_forwarded_report(world)
    assert forwarded.created and forwarded.forwarded and forwarded.member == "Ada Chair"
    internal_mail = members_internal_mail(world)
    assert internal_mail.member == "Ada Chair" and internal_mail.conversation == world.case.team
    submitted = submitted_mail_to_outsiders(world)
    assert submitted.submitted and submitted.sender.method == "submission"
    assert direct.outside_addressed(world.ctx, submitted.parsed) == direct.outside_addressed(
        world.ctx, members_direct_mail(world).parsed
    )
