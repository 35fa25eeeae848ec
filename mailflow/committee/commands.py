"""Commands by mail: lines at the very top of a member's mail to a case's internal address.

In the spirit of RT's CommandByMail, but with a leading slash so that no ordinary first line
("Note: I talked to her") is ever taken for a command. Every command a member gives becomes a
diary entry naming who gave it; its outcome is mailed back to them, and what the manuals ask the
rest of the committee to hear (a conflict, a unilateral action, a vote, an urgent case) goes to the
other members who may act on the case. An unknown command is answered with the list below.

    Who handles the case (mailflow.committee.roles)
    /lead NAME                      assign the lead (GovStack: a lead and a secondary); they are told
    /secondary NAME                 assign the secondary; they are told
    /conflict [NAME]                declare a conflict of interest (default: yourself); excluded, the
                                    other members are told at once
    /recuse [NAME]                  recuse (default: yourself); excluded, the others are told
    /clear NAME                     (chair) let an excluded member back in, e.g. a wrongly suspected party
    /urgent REASON                  every member who may act is alerted; the deadlines come within hours
    /unilateral WHAT YOU DID        an action taken alone for safety, disclosed to the committee at once
    /report TEXT                    your report of that action for review (due within 24 hours)

    The people of the case and their word (mailflow.committee.people)
    /party ROLE NAME [<ADDRESS>] [aka ALIAS, ALIAS]
                                    add a party: reporter, harmed, reported, witness, mediator
    /alias NAME aka ALIAS[, ALIAS]  more names a party goes by (the policy gate looks for them)
    /permission NAME ENTRY          the diary entry holding NAME's written permission to disclose
    /agree NAME WHAT ENTRY          NAME's own message (diary entry) agreeing to WHAT: mediation (and
                                    the mediator), report (vetting the mediator's report), apology
    /no-contact NAME ENTRY          NAME asked for no further contact: mail to them is held
    /revoke NAME WHAT ENTRY         NAME took their word back (WHAT as above, or no-contact)

    Deciding (mailflow.committee.decisions, mailflow.committee.mediation)
    /propose TYPE TEXT              propose a resolution for the vote: no-action, public-reminder,
                                    private-reprimand, public-reprimand, apology-request, hiatus,
                                    temporary-ban, permanent-ban (your vote is yes)
    /vote yes|no|abstain [WHY]      consensus, else two thirds of the members without a conflict
    /withdraw [WHY]                 (proposer or chair) take the open proposal back
    /enact                          carry out the adopted resolution (after feedback and the right of reply)
    /no-right-of-reply REASON       (chair) record why the reported person is not offered a reply
    /state open|investigating       where the work stands (resolved: /enact; closed: /close)
    /close REASON                   (chair) close the case, with the reason
    /mediation start                begin mediation (every party agreed, a mediator is a party)
    /mediation report ENTRY         the mediator's report (their message); each party then vets it
    /deadlock [WHY]                 no consensus: an escalation to the board is drafted after 7 days

    The record (mailflow.committee.notes)
    /note TEXT                      an internal note in the diary
    /impact 1-5, /likelihood 1-5    risk = impact x likelihood (the Master Incident Log's scale)
    /draft NOTICE                   draft a notice for the chair's approval (e.g. reporter/status-update);
                                    "key: value" lines below it fill the template, the rest is the message
    /drafts                         the case's drafts and their states
    /show                           the case at a glance and its diary, by mail
    /cases                          the open cases you may act on, and what is overdue on each
    /help                           this list

    The records (mailflow.committee.records, kept by mailflow.records)
    /log [STATE] [YEAR] [mine]      the Master Incident Log, mailed to you: only the cases you may see
    /assess [KEY ANSWER]            answer an assessment question (bare: KEY: ANSWER lines below it,
                                    as in the questionnaire the lead receives; nothing: show it)
    /type conflict|enforcement      conflict resolution or conduct enforcement (GovStack)
    /source SOURCE                  reporter, event-staff, moderators, escalated
    /category WORD                  the type of violation (counted by the transparency report)
    /summary TEXT                   the case's line in the incident log (observed facts)
    /ban KIND PERSON                ban, suspension, hiatus or cooling-off of a party; scope:, ends: or
                                    for:, review: on the next lines (or after ';')
    /lift NUMBER REASON             end a ban early
    /bans                           the case's bans
    /patterns                       earlier cases about the same reported person, that you may see
    /link retaliation|same REF      this case retaliates for REF, or reports the same incident
    /merge REF                      the same incident as REF: close this case into it
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailflow.case import diary
from mailflow.case.entries import CommandRun
from mailflow.committee import decisions, mediation, notes, people, records, roles
from mailflow.committee.context import Command, CommandError, Context, Handler, Reply, Result

__all__ = ["HELP", "Command", "Context", "Result", "execute", "parse"]

HELP = __doc__.split("\n\n", 2)[2].rstrip() if __doc__ else ""

_COMMAND = re.compile(r"^/(?P<name>[a-z_-]+)\b[ \t]*(?P<args>.*)$", re.IGNORECASE)


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


def _help(ctx: Context, args: str) -> str:
    return HELP


HANDLERS: dict[str, Handler] = {
    **roles.HANDLERS,
    **people.HANDLERS,
    **decisions.HANDLERS,
    **mediation.HANDLERS,
    **notes.HANDLERS,
    **records.HANDLERS,
    "help": _help,
}


def execute(ctx: Context, commands: Sequence[Command]) -> list[Result]:
    """Run every command in order; each one, obeyed or refused, is a diary entry naming its author."""
    results: list[Result] = []
    for command in commands:
        handler = HANDLERS.get(command.name)
        if handler is None:
            result = Result(command, False, f"unknown command /{command.name}; the commands are:\n{HELP}")
        else:
            try:
                with ctx.conn.begin_nested():  # a refused command leaves nothing half-done
                    said = handler(ctx, command.args)
                reply = said if isinstance(said, Reply) else Reply(said)
                result = Result(command, True, reply.message, reply.tell)
            except CommandError as exc:
                result = Result(command, False, str(exc))
        entry = CommandRun(command.line[:500], result.ok, result.message[:500])
        diary.append(ctx.conn, ctx.case_id, entry, at=ctx.now, actor=ctx.member.name)
        results.append(result)
    return results
