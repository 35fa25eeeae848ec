"""The records' commands by mail, registered with ``mailflow.committee.commands`` (same rules: each
one a diary entry naming its author, the results mailed back).

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

from collections.abc import Callable
from typing import Any

from mailflow.case import service as cases
from mailflow.committee import commands as committee
from mailflow.config import Settings
from mailflow.outbound.compose import OutAttachment
from mailflow.records import assessment, bans, patterns
from mailflow.records import log as incident_log
from mailflow.records import mail as records_mail
from mailflow.records.facts import load

HELP = __doc__.split("\n\n", 1)[1].rstrip() if __doc__ else ""

Handler = Callable[[committee.Context, str], str]


def _settings(ctx: committee.Context) -> Settings:
    if ctx.drafting is None:
        raise committee.CommandError("this command is not available here")
    return ctx.drafting.settings


def _case(ctx: committee.Context) -> cases.CaseRef:
    [facts] = load(ctx.conn, [ctx.case_id])
    return cases.CaseRef(facts.id, facts.ref)


def _log(ctx: committee.Context, args: str) -> str:
    settings = _settings(ctx)
    try:
        filters = incident_log.parse_filters(args, ctx.member.name)
    except ValueError as exc:
        raise committee.CommandError(str(exc)) from None
    rows = incident_log.rows(load(ctx.conn), filters)
    text = (
        "The Master Incident Log: the cases you may see"
        + (f" ({args.strip()})" if args.strip() else "")
        + ". Keep it private: it is for the committee only (GovStack).\n\n"
        + incident_log.as_text(rows)
        + "\n\nThe same as a table: log.csv.\n"
    )
    attachment = OutAttachment("log.csv", "text/csv", incident_log.as_csv(rows).encode("utf-8"), charset="utf-8")
    records_mail.to_member(
        ctx.conn, settings, ctx.member, "Master Incident Log", text, what="log", now=ctx.now,
        reply_case=_case(ctx), attachments=[attachment],
    )  # fmt: skip
    return f"the incident log ({len(rows)} case(s) you may see) is mailed to you separately"


def _assess(ctx: committee.Context, args: str) -> str:
    categories = _settings(ctx).records.categories
    said: list[str] = []
    try:
        if args.strip():
            key, _, value = args.strip().partition(" ")
            said.append(
                assessment.answer(ctx.conn, ctx.case_id, key.rstrip(":"), value, categories=categories, now=ctx.now)
            )
        else:
            for line in ctx.body.replace("\r\n", "\n").split("\n"):
                key, colon, value = line.partition(":")
                if not colon or assessment.normalise_key(key) not in assessment.KEYS:
                    if line.strip():
                        break  # the answers end where the free text begins
                    continue
                if value.strip() and value.strip() not in ("?", "-"):
                    said.append(
                        assessment.answer(ctx.conn, ctx.case_id, key, value, categories=categories, now=ctx.now)
                    )
    except assessment.AssessmentError as exc:
        raise committee.CommandError(f"{exc}; nothing after it was recorded" if said else str(exc)) from None
    [case] = load(ctx.conn, [ctx.case_id])
    if not said:
        return assessment.as_text(case)
    findings = "; ".join(assessment.findings(case))
    left = assessment.unanswered(case)
    return f"recorded: {', '.join(said)}. {findings}." + (f" Not answered yet: {', '.join(left)}." if left else "")


def _fact(key: str) -> Handler:
    def run(ctx: committee.Context, args: str) -> str:
        categories = _settings(ctx).records.categories
        try:
            said = assessment.answer(ctx.conn, ctx.case_id, key, args, categories=categories, now=ctx.now)
        except assessment.AssessmentError as exc:
            raise committee.CommandError(str(exc)) from None
        [case] = load(ctx.conn, [ctx.case_id])
        extra = [f for f in assessment.findings(case) if f.startswith("GovStack")]
        return "; ".join([said, *extra])

    return run


def _ban(ctx: committee.Context, args: str) -> str:
    days = _settings(ctx).records.ban_reminder_days
    try:
        return bans.record(ctx.conn, ctx.case_id, args, ctx.body, by=ctx.member.name, now=ctx.now, remind_days=days)
    except bans.BanError as exc:
        raise committee.CommandError(str(exc)) from None


def _lift(ctx: committee.Context, args: str) -> str:
    try:
        return bans.lift(ctx.conn, ctx.case_id, args, by=ctx.member.name, now=ctx.now)
    except bans.BanError as exc:
        raise committee.CommandError(str(exc)) from None


def _bans(ctx: committee.Context, args: str) -> str:
    return bans.as_text(bans.listing(ctx.conn, ctx.now, case_id=ctx.case_id))


def _patterns(ctx: committee.Context, args: str) -> str:
    this, found = patterns.earlier(ctx.conn, ctx.case_id)
    seen = [c for c in found if c.visible_to(ctx.member.name)]
    if not this.of_role("reported"):
        return "no reported person is named on this case yet (/party reported NAME <ADDRESS> aka ALIAS)"
    if not seen:
        return "no earlier case you may see is about the same reported person"
    return "earlier cases about the same reported person (a pattern, not one incident):\n" + patterns.describe(seen)


def _link(ctx: committee.Context, args: str) -> str:
    kind, _, ref = args.strip().partition(" ")
    try:
        return patterns.link(ctx.conn, ctx.case_id, kind.lower(), ref, ctx.member, ctx.now)
    except patterns.LinkError as exc:
        raise committee.CommandError(str(exc)) from None


def _merge(ctx: committee.Context, args: str) -> str:
    try:
        return patterns.merge(ctx.conn, ctx.case_id, args, ctx.member, ctx.now)
    except patterns.LinkError as exc:
        raise committee.CommandError(str(exc)) from None


def _then_patterns(handler: Handler, applies: Callable[[str], bool]) -> Handler:
    """Naming the reported person (``/party reported``, ``/alias``) shows the earlier cases."""

    def run(ctx: committee.Context, args: str) -> str:
        said = handler(ctx, args)
        if ctx.drafting is None or not applies(args):
            return said
        found = patterns.announce(
            ctx.conn, ctx.drafting.settings, ctx.roster, ctx.case_id, asked_by=ctx.member, now=ctx.now
        )
        return f"{said}; {found}" if found else said

    return run


def extend(handlers: dict[str, Any]) -> str:
    handlers.update(
        {
            "log": _log,
            "assess": _assess,
            "type": _fact("type"),
            "source": _fact("source"),
            "category": _fact("category"),
            "summary": _fact("summary"),
            "ban": _ban,
            "lift": _lift,
            "bans": _bans,
            "patterns": _patterns,
            "link": _link,
            "merge": _merge,
        }
    )
    handlers["party"] = _then_patterns(handlers["party"], patterns.names_reported)
    handlers["alias"] = _then_patterns(handlers["alias"], lambda args: True)
    return HELP


committee.register(extend)
