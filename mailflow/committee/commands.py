"""Commands by mail: lines at the very top of a member's mail to a case address.

In the spirit of RT's CommandByMail, but with a leading slash so that no ordinary first line
("Note: I talked to her") is ever taken for a command. Every command a member gives becomes a
diary entry naming who gave it; an unknown command is answered with the list below.

    /lead NAME                      assign the lead (GovStack: a lead and a secondary per incident)
    /secondary NAME                 assign the secondary
    /conflict [NAME]                declare a conflict of interest (default: yourself); excluded from the case
    /recuse [NAME]                  recuse (default: yourself); excluded from the case
    /clear NAME                     (chair) let an excluded member back in, e.g. a wrongly suspected party
    /party ROLE NAME [<ADDRESS>] [aka ALIAS, ALIAS]
                                    add a party: reporter, harmed, reported, witness, mediator
    /alias NAME aka ALIAS[, ALIAS]  more names a party goes by (the policy gate looks for them)
    /permission NAME ENTRY          the diary entry (number) holding NAME's written permission to disclose
    /impact 1-5, /likelihood 1-5    risk = impact x likelihood (the Master Incident Log's scale)
    /state STATE                    open, investigating, resolution_proposed, resolved, closed
    /note TEXT                      an internal note in the diary
    /draft NOTICE                   draft a notice for the chair's approval (e.g. reporter/status-update);
                                    "key: value" lines below it fill the template, the rest is the message
    /drafts                         the case's drafts and their states
    /enact                          mark the resolution enacted (after feedback and the right of reply)
    /no-right-of-reply REASON       (chair) record why the reported person is not offered a reply
    /unilateral TEXT                record an action one member took alone (report it within 24 hours)
    /mediation                      mediation started (reminder after 14 days)
    /deadlock                       no consensus (escalation to the board drafted after 7 days)
    /help                           this list
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select

from mailflow.auth import RosterMember
from mailflow.case import conversations, deadlines, diary, parties, standing
from mailflow.case.entries import CommandRun
from mailflow.case.states import TransitionRefused, check_transition
from mailflow.config import NoticeSettings
from mailflow.drafting import drafts, feedback
from mailflow.drafting.drafts import DraftingContext
from mailflow.model import CaseState, PartyRole
from mailflow.model import core as t

HELP = __doc__.split("\n\n", 2)[2].rstrip() if __doc__ else ""

_COMMAND = re.compile(r"^/(?P<name>[a-z_-]+)\b[ \t]*(?P<args>.*)$", re.IGNORECASE)
_ADDRESS = re.compile(r"<\s*([^<>\s]+@[^<>\s]+)\s*>|(?<!\S)([^\s<>@]+@[^\s<>@]+\.[^\s<>@]+)(?!\S)")
_CASE = select(t.cases.c.state).where(t.cases.c.id == bindparam("case_id"))
_SET_CASE = t.cases.update().where(t.cases.c.id == bindparam("case_id"))
_DRAFTS = select(t.notice_draft.c.id, t.notice_draft.c.notice, t.notice_draft.c.owner, t.notice_draft.c.state).where(
    t.notice_draft.c.case_id == bindparam("case_id")
)
_ENTRY = select(t.diary.c.kind, t.diary.c.from_addr, t.diary.c.unverified).where(
    t.diary.c.case_id == bindparam("case_id"), t.diary.c.seq == bindparam("seq")
)


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: str
    line: str


@dataclass(frozen=True, slots=True)
class Result:
    command: Command
    ok: bool
    message: str


def parse(text: str) -> tuple[list[Command], str]:
    """The command lines at the top of ``text`` (blank lines between them allowed) and the rest."""
    lines = text.replace("\r\n", "\n").split("\n")
    commands: list[Command] = []
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        if not line:
            index += 1
            continue
        match = _COMMAND.match(line)
        if match is None:
            break
        commands.append(Command(match["name"].lower(), match["args"].strip(), line))
        index += 1
    return commands, "\n".join(lines[index:]).strip("\n")


@dataclass(frozen=True, slots=True)
class Context:
    conn: Connection
    case_id: int
    member: RosterMember
    roster: Sequence[RosterMember]
    now: datetime
    drafting: DraftingContext | None = None
    body: str = ""
    """The mail's text after the command lines (what /draft fills its notice with)."""


def execute(ctx: Context, commands: Sequence[Command]) -> list[Result]:
    """Run every command in order; each one, obeyed or refused, is a diary entry naming its author."""
    results: list[Result] = []
    for command in commands:
        handler = _HANDLERS.get(command.name)
        if handler is None:
            result = Result(command, False, f"unknown command /{command.name}; the commands are:\n{HELP}")
        else:
            try:
                with ctx.conn.begin_nested():  # a refused command leaves nothing half-done
                    result = Result(command, True, handler(ctx, command.args))
            except CommandError as exc:
                result = Result(command, False, str(exc))
        entry = CommandRun(command.line[:500], result.ok, result.message[:500])
        diary.append(ctx.conn, ctx.case_id, entry, at=ctx.now, actor=ctx.member.name)
        results.append(result)
    return results


class CommandError(Exception):
    pass


def _member_named(ctx: Context, who: str) -> RosterMember:
    key = " ".join(who.split()).casefold()
    if not key or key in ("me", "myself"):
        return ctx.member
    exact = [m for m in ctx.roster if m.name.casefold() == key or key in (a.casefold() for a in m.addresses)]
    if exact:
        return exact[0]
    first = [m for m in ctx.roster if m.name.split()[0].casefold() == key]
    if len(first) == 1:
        return first[0]
    raise CommandError(f"no committee member is called {who!r} (use the name in the roster)")


def _assign(role: str) -> Callable[[Context, str], str]:
    def run(ctx: Context, args: str) -> str:
        member = _member_named(ctx, args)
        if member.name in standing.excluded(ctx.conn, ctx.case_id):
            raise CommandError(f"{member.name} is excluded from this case and cannot be its {role}")
        standing.assign(ctx.conn, ctx.case_id, member.name, role, now=ctx.now, by=ctx.member.name)
        return f"{member.name} is the {role}"

    return run


def _exclude(reason: str) -> Callable[[Context, str], str]:
    def run(ctx: Context, args: str) -> str:
        member = _member_named(ctx, args)
        if member.name != ctx.member.name and ctx.member.role != "chair":
            raise CommandError(f"only {member.name} or a chair can declare that")
        standing.exclude(ctx.conn, ctx.case_id, member.name, reason, now=ctx.now, by=ctx.member.name)
        return f"{member.name} is excluded from this case ({reason}): no more mail of it reaches them"

    return run


def _clear(ctx: Context, args: str) -> str:
    if ctx.member.role != "chair":
        raise CommandError("only a chair can let an excluded member back into a case")
    member = _member_named(ctx, args)
    standing.include(ctx.conn, ctx.case_id, member.name, now=ctx.now, by=ctx.member.name)
    return f"{member.name} takes part in this case again"


_AKA = re.compile(r"\s+aka\s+", re.IGNORECASE)


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
    return said


def _one_party(ctx: Context, who: str) -> parties.PartyView:
    found = parties.find(ctx.conn, ctx.case_id, who)
    if not found:
        raise CommandError(f"no party of this case is called {who!r} (add one with /party)")
    if len(found) > 1:
        raise CommandError(f"{who!r} names {len(found)} parties; use the address")
    return found[0]


def _alias(ctx: Context, args: str) -> str:
    who, *aka = _AKA.split(args, maxsplit=1)
    aliases = tuple(a.strip() for a in (aka[0] if aka else "").split(",") if a.strip())
    if not aliases:
        raise CommandError("say which aliases: /alias NAME aka ALIAS[, ALIAS]")
    party = _one_party(ctx, who.strip())
    parties.add_aliases(ctx.conn, party, aliases)
    return f"{party.shown} also goes by {', '.join(aliases)}"


def _permission(ctx: Context, args: str) -> str:
    who, _, entry = args.rpartition(" ")
    seq_text = entry.strip().lstrip("#")
    if not who or not seq_text.isdigit():
        raise CommandError("say whose and which diary entry: /permission NAME ENTRY (the entry's number)")
    party = _one_party(ctx, who)
    row = ctx.conn.execute(_ENTRY, {"case_id": ctx.case_id, "seq": int(seq_text)}).first()
    if row is None:
        raise CommandError(f"the diary of this case has no entry {seq_text}")
    if not party.address or (row[1] or "").lower() != party.address.lower():
        raise CommandError(
            f"entry {seq_text} is not a message from {party.shown}: written permission must come from the person"
        )
    if row[2]:
        raise CommandError(
            f"entry {seq_text} is unverified (it failed authentication for its sender's domain, so it may be forged):"
            f" written permission must come from {party.shown} themself; ask them again and record that answer"
        )
    parties.record_permission(ctx.conn, party, int(seq_text))
    return f"{party.shown} gave written permission to disclose (diary entry {seq_text})"


def _scale(column: str) -> Callable[[Context, str], str]:
    def run(ctx: Context, args: str) -> str:
        if not args.strip().isdigit() or not 1 <= int(args) <= 5:
            raise CommandError(f"{column} is a number from 1 to 5")
        ctx.conn.execute(_SET_CASE, {"case_id": ctx.case_id, column: int(args)})
        return f"{column} set to {int(args)}"

    return run


def _state(ctx: Context, args: str) -> str:
    try:
        target = CaseState(args.strip().lower().replace(" ", "_"))
    except ValueError:
        raise CommandError(f"unknown state {args!r} (one of: {', '.join(s.value for s in CaseState)})") from None
    current = CaseState(ctx.conn.execute(_CASE, {"case_id": ctx.case_id}).scalar_one())
    try:
        check_transition(current, target)
    except TransitionRefused as exc:
        raise CommandError(str(exc)) from None
    ctx.conn.execute(_SET_CASE, {"case_id": ctx.case_id, "state": target, "updated_at": ctx.now})
    return f"the case is now {target.value}"


def _note(ctx: Context, args: str) -> str:
    if not args.strip():
        raise CommandError("write the note after /note")
    return f"noted: {args.strip()}"


def _help(ctx: Context, args: str) -> str:
    return HELP


_VALUE = re.compile(r"^([a-z_][a-z0-9_]*)\s*:\s*(.*)$")


def _draft_values(body: str) -> tuple[dict[str, str], str]:
    """Leading "key: value" lines fill the template; the rest of the text is the member's message,
    which fills the notice's main text (its first required key not given)."""
    lines = body.replace("\r\n", "\n").split("\n")
    values: dict[str, str] = {}
    index = 0
    while index < len(lines):
        match = _VALUE.match(lines[index].strip())
        if not match:
            break
        values[match[1]] = match[2].strip()
        index += 1
    return values, "\n".join(lines[index:]).strip()


def _draft(ctx: Context, args: str) -> str:
    if ctx.drafting is None:
        raise CommandError("notices cannot be drafted here")
    notice = args.strip().lower()
    if not notice:
        raise CommandError("say which notice: /draft AUDIENCE/NOTICE (e.g. reporter/status-update)")
    values, message = _draft_values(ctx.body)
    try:
        draft = drafts.create(
            ctx.conn, ctx.drafting, ctx.case_id, notice, owner=ctx.member.name, values=values, message=message,
            now=ctx.now,
        )  # fmt: skip
    except drafts.DraftError as exc:
        raise CommandError(str(exc)) from None
    return f"draft {draft.id} ({notice}) is waiting for a chair's approval"


def _drafts(ctx: Context, args: str) -> str:
    rows = ctx.conn.execute(_DRAFTS, {"case_id": ctx.case_id}).all()
    return "\n".join(f"draft {i}: {n} by {o}, {s}" for i, n, o, s in rows) or "no drafts on this case"


def _enact(ctx: Context, args: str) -> str:
    window = timedelta(days=ctx.drafting.settings.notices.feedback_window_days if ctx.drafting else 7)
    status = feedback.state(ctx.conn, ctx.case_id, window)
    why_not = status.may_enact(ctx.now)
    if why_not:
        raise CommandError(why_not)
    said = ", ".join(f"{a} (diary entry {seq})" for a, seq in status.answered.items()) or "nobody answered"
    ctx.conn.execute(_SET_CASE, {"case_id": ctx.case_id, "state": CaseState.RESOLVED, "updated_at": ctx.now})
    return f"the resolution is enacted; feedback: {said}"


def _no_right_of_reply(ctx: Context, args: str) -> str:
    if ctx.member.role != "chair":
        raise CommandError("only a chair can record why the reported person is not offered a reply")
    if not args.strip():
        raise CommandError("say why: /no-right-of-reply REASON (e.g. physical safety)")
    ctx.conn.execute(_SET_CASE, {"case_id": ctx.case_id, "right_of_reply_waived_seq": _own_entry(ctx)})
    return "recorded: the reported person is not offered a right of reply"


def _own_entry(ctx: Context) -> int:
    """The diary entry this command is about to get (handlers that write no entry of their own)."""
    return diary.head(ctx.conn, ctx.case_id).seq + 1


def _marker(name: str, said: str) -> Callable[[Context, str], str]:
    """``/unilateral``, ``/mediation``, ``/deadlock``: each plans its deadline of the manuals."""

    def run(ctx: Context, args: str) -> str:
        notices = ctx.drafting.settings.notices if ctx.drafting else NoticeSettings()
        period = {
            "unilateral": timedelta(0),  # the member is reminded at once to report within the hours
            "mediation": timedelta(days=notices.mediation_days),
            "deadlock": timedelta(days=notices.deadlock_days),
        }[name]
        seq = _own_entry(ctx)
        about = f"{name} marked by {ctx.member.name}: {args.strip()[:200]}".rstrip(": ")
        deadlines.plan(
            ctx.conn, ctx.case_id, f"{name}-{seq}", ctx.now + period, about=about, by=ctx.member.name, now=ctx.now
        )
        return said

    return run


_HANDLERS = {
    "lead": _assign("lead"),
    "secondary": _assign("secondary"),
    "conflict": _exclude(standing.CONFLICT),
    "recuse": _exclude(standing.RECUSED),
    "clear": _clear,
    "party": _party,
    "alias": _alias,
    "permission": _permission,
    "impact": _scale("impact"),
    "likelihood": _scale("likelihood"),
    "state": _state,
    "note": _note,
    "help": _help,
    "draft": _draft,
    "drafts": _drafts,
    "enact": _enact,
    "no-right-of-reply": _no_right_of_reply,
    "unilateral": _marker("unilateral", "recorded as a unilateral action: report it to the committee within 24 hours"),
    "mediation": _marker("mediation", "mediation started: a reminder follows if it is still open after 14 days"),
    "deadlock": _marker("deadlock", "no consensus recorded: an escalation to the board is drafted after 7 days"),
}


def register(extend: Callable[[dict[str, Callable[[Context, str], str]]], str]) -> None:
    """Commands of another package (``mailflow.records``): ``extend`` adds its handlers (or wraps
    these) and returns its lines of /help."""
    global HELP
    HELP = f"{HELP}\n{extend(_HANDLERS).rstrip()}"


import mailflow.records.commands  # noqa: E402,F401  (registers the records' commands by mail)
