"""The people of a case, and their word: permission, agreement, consent, no further contact.

What the manuals make depend on a person's own word is recorded against the diary entry that
holds it, and only a message from that person that passed authentication counts:

* the reporter's written permission to disclose (Django: "without the written permission of the
  reporter") - ``/permission NAME ENTRY``;
* each party's agreement to mediation and to the mediator, and their vetting of the mediator's
  report (Jupyter: "Obtain the agreement of the reporter(s) ... of the reported person(s)", "a
  report (vetted by all parties to the process)") - ``/agree NAME mediation|report ENTRY``;
* the reporter's agreement that an apology be asked for (Jupyter: "A request for a public or
  private apology, assuming the reporter agrees to this idea") - ``/agree NAME apology ENTRY``;
* a party's wish for no further contact (Jupyter: "they may at their discretion refuse further
  contact with the violator") - ``/no-contact NAME ENTRY``: mail to them is then held.

``/revoke NAME WHAT ENTRY`` records that the person took their word back (their own message again).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mailflow.case import conversations, diary, parties, standing
from mailflow.case.entries import Agreed
from mailflow.committee import mediation
from mailflow.committee.context import (
    CommandError,
    Context,
    Reply,
    one_party,
    party_and_entry,
    written_by,
)
from mailflow.model import PartyRole
from mailflow.records import patterns

_ADDRESS = re.compile(r"<\s*([^<>\s]+@[^<>\s]+)\s*>|(?<!\S)([^\s<>@]+@[^\s<>@]+\.[^\s<>@]+)(?!\S)")
_AKA = re.compile(r"\s+aka\s+", re.IGNORECASE)

_WHO_MAY = {
    "mediation": (PartyRole.REPORTER, PartyRole.HARMED, PartyRole.REPORTED),
    "report": (PartyRole.REPORTER, PartyRole.HARMED, PartyRole.REPORTED),
    "apology": (PartyRole.REPORTER, PartyRole.HARMED),
}
_WHAT = {
    "mediation": "agreement to mediation and to the mediator",
    "report": "vetting of the mediator's report",
    "apology": "agreement that an apology be asked for",
    "no-contact": "wish for no further contact",
}


def _split_person(args: str) -> tuple[str | None, str | None, tuple[str, ...]]:
    """NAME [<ADDRESS>] [aka ALIAS, ALIAS] -> (name, address, aliases)."""
    head, *aka = _AKA.split(args, maxsplit=1)
    aliases = tuple(a.strip() for a in (aka[0] if aka else "").split(",") if a.strip())
    address = None
    match = _ADDRESS.search(head)
    if match:
        address = (match[1] or match[2]).lower()
        head = head[: match.start()] + head[match.end() :]
    name = " ".join(head.strip().strip('"').split()) or None
    return name, address, aliases


def _party(ctx: Context, args: str) -> str:
    role_word, _, rest = args.partition(" ")
    try:
        role = PartyRole(role_word.lower())
    except ValueError:
        roles = ", ".join(r.value for r in PartyRole)
        raise CommandError(f"unknown role {role_word!r} (one of: {roles})") from None
    name, address, aliases = _split_person(rest)
    if not name and not address:
        raise CommandError("say who: /party ROLE NAME [<ADDRESS>] [aka ALIAS, ...]")
    party = parties.add(ctx.conn, ctx.case_id, role, name=name, address=address, aliases=aliases, now=ctx.now)
    said = f"{party.shown} added as {role.value}"
    if role is PartyRole.REPORTER and address:
        confirmed = conversations.confirm_reporter(
            ctx.conn, ctx.case_id, address, name or "", by=ctx.member.name, now=ctx.now
        )
        if confirmed:
            said += "; the reporter's conversation now goes to them"
    for member in ctx.roster:
        if (address and address in (a.lower() for a in member.addresses)) or (
            name and name.casefold() == member.name.casefold()
        ):
            standing.exclude(ctx.conn, ctx.case_id, member.name, standing.PARTY, now=ctx.now, by=ctx.member.name)
            said += f"; {member.name} is a committee member and is now excluded from this case"
    if role is PartyRole.REPORTED:
        said = _with_patterns(ctx, said)
    return said


def _with_patterns(ctx: Context, said: str) -> str:
    """Naming the reported person shows the members the earlier cases about them (a pattern)."""
    if ctx.drafting is None:
        return said
    found = patterns.announce(
        ctx.conn, ctx.drafting.settings, ctx.roster, ctx.case_id, asked_by=ctx.member, now=ctx.now
    )
    return f"{said}; {found}" if found else said


def _alias(ctx: Context, args: str) -> str:
    who, *aka = _AKA.split(args, maxsplit=1)
    aliases = tuple(a.strip() for a in (aka[0] if aka else "").split(",") if a.strip())
    if not aliases:
        raise CommandError("say which aliases: /alias NAME aka ALIAS[, ALIAS]")
    party = one_party(ctx, who.strip())
    parties.add_aliases(ctx.conn, party, aliases)
    return _with_patterns(ctx, f"{party.shown} also goes by {', '.join(aliases)}")


def _permission(ctx: Context, args: str) -> str:
    party, seq = party_and_entry(ctx, args, "/permission NAME ENTRY")
    written_by(ctx, party, seq, "written permission")
    parties.record_permission(ctx.conn, party, seq)
    return f"{party.shown} gave written permission to disclose (diary entry {seq})"


def _word(ctx: Context, what: str, rest: str, *, revoke: bool) -> str | Reply:
    usage = f"/{'revoke' if revoke else 'agree'} NAME {what} ENTRY" if what else "/agree NAME WHAT ENTRY"
    party, seq = party_and_entry(ctx, rest, usage)
    roles = _WHO_MAY.get(what)
    if roles is not None and party.role not in roles:
        named = ", ".join(r.value for r in roles)
        raise CommandError(f"{party.shown} is a {party.role.value}: only a {named} gives their {_WHAT[what]}")
    written_by(ctx, party, seq, f"a {_WHAT[what]}" if not revoke else "taking it back")
    if what == "report" and not revoke:
        mediation.check_vetting(ctx, seq)
    parties.record_agreement(ctx.conn, party, what, None if revoke else seq)
    diary.append(ctx.conn, ctx.case_id, Agreed(party.id, what if not revoke else f"revoked {what}", seq), at=ctx.now,
                 actor=ctx.member.name)  # fmt: skip
    if revoke:
        said = f"{party.shown} took back their {_WHAT[what]} (diary entry {seq})"
    else:
        said = f"{party.shown}'s {_WHAT[what]} is recorded (diary entry {seq})"
    if what == "no-contact" and not revoke:
        said += ": mail to them is held from now on, for a chair to decide"
    if what in ("mediation", "report"):
        return mediation.after_agreement(ctx, what, said)
    return said


def _split_what(args: str) -> tuple[str, str]:
    """``NAME WHAT ENTRY`` -> (what, "NAME ENTRY"); WHAT is one of :data:`parties.AGREEMENTS`."""
    words = args.split()
    for index, word in enumerate(words):
        if word.lower() in parties.AGREEMENTS and 0 < index < len(words) - 1:
            return word.lower(), " ".join(words[:index] + words[index + 1 :])
    raise CommandError(
        f"say who, to what and which diary entry: /agree NAME WHAT ENTRY (WHAT: {', '.join(parties.AGREEMENTS)})"
    )


def _agree(ctx: Context, args: str) -> str | Reply:
    what, rest = _split_what(args)
    return _word(ctx, what, rest, revoke=False)


def _revoke(ctx: Context, args: str) -> str | Reply:
    what, rest = _split_what(args)
    return _word(ctx, what, rest, revoke=True)


def _no_contact(ctx: Context, args: str) -> str | Reply:
    return _word(ctx, "no-contact", args, revoke=False)


HANDLERS: dict[str, Callable[[Context, str], str | Reply]] = {
    "party": _party,
    "alias": _alias,
    "permission": _permission,
    "agree": _agree,
    "revoke": _revoke,
    "no-contact": _no_contact,
}
