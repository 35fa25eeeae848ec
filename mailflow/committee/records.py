"""The records' commands by mail (``mailflow.records`` keeps them): the incident log, the
assessment, the ban register, patterns and links; listed in ``mailflow.committee.commands``.
Same rules as every command: each one a diary entry naming its author, the results mailed back.
"""

from __future__ import annotations

from collections.abc import Callable

from mailflow.case import service as cases
from mailflow.committee.context import CommandError, Context
from mailflow.config import Settings
from mailflow.outbound.compose import OutAttachment
from mailflow.records import assessment, bans, patterns
from mailflow.records import log as incident_log
from mailflow.records import mail as records_mail
from mailflow.records.facts import load

Handler = Callable[[Context, str], str]


def _settings(ctx: Context) -> Settings:
    if ctx.drafting is None:
        raise CommandError("this command is not available here")
    return ctx.drafting.settings


def _case(ctx: Context) -> cases.CaseRef:
    [facts] = load(ctx.conn, [ctx.case_id])
    return cases.CaseRef(facts.id, facts.ref)


def _log(ctx: Context, args: str) -> str:
    settings = _settings(ctx)
    try:
        filters = incident_log.parse_filters(args, ctx.member.name)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
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


def _assess(ctx: Context, args: str) -> str:
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
        raise CommandError(f"{exc}; nothing after it was recorded" if said else str(exc)) from None
    [case] = load(ctx.conn, [ctx.case_id])
    if not said:
        return assessment.as_text(case)
    findings = "; ".join(assessment.findings(case))
    left = assessment.unanswered(case)
    return f"recorded: {', '.join(said)}. {findings}." + (f" Not answered yet: {', '.join(left)}." if left else "")


def _fact(key: str) -> Handler:
    def run(ctx: Context, args: str) -> str:
        categories = _settings(ctx).records.categories
        try:
            said = assessment.answer(ctx.conn, ctx.case_id, key, args, categories=categories, now=ctx.now)
        except assessment.AssessmentError as exc:
            raise CommandError(str(exc)) from None
        [case] = load(ctx.conn, [ctx.case_id])
        extra = [f for f in assessment.findings(case) if f.startswith("GovStack")]
        return "; ".join([said, *extra])

    return run


def _ban(ctx: Context, args: str) -> str:
    days = _settings(ctx).records.ban_reminder_days
    try:
        return bans.record(ctx.conn, ctx.case_id, args, ctx.body, by=ctx.member.name, now=ctx.now, remind_days=days)
    except bans.BanError as exc:
        raise CommandError(str(exc)) from None


def _lift(ctx: Context, args: str) -> str:
    try:
        return bans.lift(ctx.conn, ctx.case_id, args, by=ctx.member.name, now=ctx.now)
    except bans.BanError as exc:
        raise CommandError(str(exc)) from None


def _bans(ctx: Context, args: str) -> str:
    return bans.as_text(bans.listing(ctx.conn, ctx.now, case_id=ctx.case_id))


def _patterns(ctx: Context, args: str) -> str:
    this, found = patterns.earlier(ctx.conn, ctx.case_id)
    seen = [c for c in found if c.visible_to(ctx.member.name)]
    if not this.of_role("reported"):
        return "no reported person is named on this case yet (/party reported NAME <ADDRESS> aka ALIAS)"
    if not seen:
        return "no earlier case you may see is about the same reported person"
    return "earlier cases about the same reported person (a pattern, not one incident):\n" + patterns.describe(seen)


def _link(ctx: Context, args: str) -> str:
    kind, _, ref = args.strip().partition(" ")
    try:
        return patterns.link(ctx.conn, ctx.case_id, kind.lower(), ref, ctx.member, ctx.now)
    except patterns.LinkError as exc:
        raise CommandError(str(exc)) from None


def _merge(ctx: Context, args: str) -> str:
    try:
        return patterns.merge(ctx.conn, ctx.case_id, args, ctx.member, ctx.now)
    except patterns.LinkError as exc:
        raise CommandError(str(exc)) from None


HANDLERS: dict[str, Callable[[Context, str], str]] = {
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
