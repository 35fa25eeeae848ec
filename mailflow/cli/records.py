"""The records from a shell: ``mailflow log``, ``assessment``, ``bans``, ``patterns``, ``diary``,
``retention`` and ``report`` (``mailflow.records``)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from mailflow.cli.output import console, emit_rows, fail, to_json
from mailflow.clock import utcnow

# Each command imports what it uses (mailflow.records, the database): `mailflow --help` and the
# other commands load none of it (tests/cli/test_startup.py).
CASE_STATES = ("new", "open", "investigating", "resolution_proposed", "resolved", "closed")

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]

assessment_app = typer.Typer(help="A case's assessment (jurisdiction, impact, risk).", no_args_is_help=True)
bans_app = typer.Typer(help="The ban register.", no_args_is_help=True)
diary_app = typer.Typer(help="The diaries as evidence: verify, export, heads.", no_args_is_help=True)
retention_app = typer.Typer(help="Remove the personal data of expired cases.", no_args_is_help=True)
report_app = typer.Typer(help="Reports from the records.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("log")(log_command)
    app.command("patterns")(patterns_command)
    app.add_typer(assessment_app, name="assessment")
    app.add_typer(bans_app, name="bans")
    app.add_typer(diary_app, name="diary")
    app.add_typer(retention_app, name="retention")
    app.add_typer(report_app, name="report")


def _when(value: str | None) -> datetime:
    if not value:
        return utcnow()
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{value!r} is not an ISO time (e.g. 2027-01-31T09:00)")
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _case_id(ctx: typer.Context, ref: str) -> int:
    from mailflow.case import service as cases
    from mailflow.database import connection

    with connection(ctx.obj.engine, read_only=True) as conn:
        found = cases.by_ref(conn, ref)
    if found is None:
        fail(f"no case {ref}")
    return found.id


def log_command(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help=f"only cases in this state: {', '.join(CASE_STATES)}")] = None,
    year: Annotated[int | None, typer.Option(help="only cases received this year")] = None,
    member: Annotated[str | None, typer.Option(help="only cases this member leads or seconds")] = None,
    visible_to: Annotated[str | None, typer.Option(help="only the cases this member may see")] = None,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="CSV, one row per case")] = False,
) -> None:
    """The Master Incident Log: one row per case (private to the committee)."""
    from mailflow.database import connection
    from mailflow.records import log as incident_log
    from mailflow.records.facts import load
    from mailflow.records.log import Filters

    if state is not None and state not in CASE_STATES:
        fail(f"--state is one of: {', '.join(CASE_STATES)}")
    filters = Filters(state, year, member, visible_to)
    with connection(ctx.obj.engine, read_only=True) as conn:
        rows = incident_log.rows(load(conn), filters)
    if as_csv:
        sys.stdout.write(incident_log.as_csv(rows))
        return
    emit_rows([r.as_dict() for r in rows], incident_log.TABLE_COLUMNS, as_json=as_json, title="Master Incident Log")


def patterns_command(ctx: typer.Context, ref: str, as_json: JsonOption = False) -> None:
    """Earlier cases about the same reported person as case REF."""
    from mailflow.database import connection
    from mailflow.records.facts import load
    from mailflow.records.log import earlier_cases

    case_id = _case_id(ctx, ref)
    with connection(ctx.obj.engine, read_only=True) as conn:
        facts = load(conn)
    found = earlier_cases(facts).get(case_id, [])
    rows = [{"ref": c.ref, "received": c.created_at, "state": c.state.value, "resolution": c.resolution} for c in found]
    emit_rows(rows, ["ref", "received", "state", "resolution"], as_json=as_json, title=f"Earlier cases than {ref}")


@assessment_app.command("show")
def assessment_show(ctx: typer.Context, ref: str, as_json: JsonOption = False) -> None:
    """The case's answers, what they say (jurisdiction, GovStack's rule), and what is unanswered."""
    from mailflow.database import connection
    from mailflow.records import assessment
    from mailflow.records.facts import load

    case_id = _case_id(ctx, ref)
    with connection(ctx.obj.engine, read_only=True) as conn:
        [case] = load(conn, [case_id])
    if as_json:
        print(to_json(assessment.view(case)))
    else:
        console.print(assessment.as_text(case), highlight=False, markup=False)


@bans_app.command("list")
def bans_list(
    ctx: typer.Context,
    in_force: Annotated[bool, typer.Option("--in-force", help="only bans in force or upcoming")] = False,
    as_json: JsonOption = False,
) -> None:
    """Every ban, suspension, hiatus and cooling-off period, with scope, dates and state."""
    from mailflow.database import connection
    from mailflow.records import bans

    with connection(ctx.obj.engine, read_only=True) as conn:
        found = bans.listing(conn, utcnow())
    rows = [b.as_dict() for b in found if not in_force or b.state in ("in force", "upcoming")]
    columns = ["id", "case", "person", "kind", "scope", "starts_on", "ends_on", "review_on", "state"]
    emit_rows(rows, columns, as_json=as_json, title="Ban register")


@bans_app.command("export")
def bans_export(
    ctx: typer.Context,
    out: Annotated[Path | None, typer.Option(help="write to this file (default: standard output)")] = None,
    include_ended: Annotated[bool, typer.Option("--all", help="also bans that ended or were lifted")] = False,
) -> None:
    """The register for moderators, without reporter identities: facts in writing, the decision theirs."""
    from mailflow.database import connection
    from mailflow.records import bans

    with connection(ctx.obj.engine, read_only=True) as conn:
        text = bans.export(
            conn, utcnow(), committee=ctx.obj.settings.service.committee_name, include_ended=include_ended
        )
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        console.print(f"written: {out}", highlight=False)


@diary_app.command("verify")
def diary_verify(ctx: typer.Context, ref: Annotated[str | None, typer.Argument()] = None) -> None:
    """Check each diary's chain and each recorded message's bytes; name the first broken entry (exit 1)."""
    from mailflow.database import transaction
    from mailflow.records import evidence

    with transaction(ctx.obj.engine, read_only=True) as session:
        refs = evidence.case_refs(session.connection())
        if ref is not None:
            refs = [(i, r) for i, r in refs if r == ref]
            if not refs:
                fail(f"no case {ref}")
        findings = [evidence.verify(session, case_id, case_ref) for case_id, case_ref in refs]
    for finding in findings:
        console.print(finding.describe(), highlight=False, markup=False)
    broken = [f for f in findings if not f.intact]
    console.print(f"{len(findings) - len(broken)} intact, {len(broken)} broken", highlight=False)
    if broken:
        raise typer.Exit(1)


@diary_app.command("export")
def diary_export(
    ctx: typer.Context,
    ref: str,
    out: Annotated[
        Path | None, typer.Option(help="a folder, or a file ending in .zip (default: REF-evidence/)")
    ] = None,
) -> None:
    """An evidence bundle: every message as received and sent (mbox), a timeline, the chain's head."""
    from mailflow.database import transaction
    from mailflow.records import evidence

    case_id = _case_id(ctx, ref)
    target = out or Path(f"{ref}-evidence")
    with transaction(ctx.obj.engine, read_only=True) as session:
        written = evidence.export(session, case_id, ref, target, utcnow())
    console.print(f"written: {written}", highlight=False)


@diary_app.command("heads")
def diary_heads(
    ctx: typer.Context,
    check: Annotated[Path | None, typer.Option(help="a digest printed (or mailed) earlier: is it still held?")] = None,
) -> None:
    """The head of every case's diary and their digest (signed with [records] heads_key): publish it,
    or check an earlier one against the database."""
    from mailflow.database import connection
    from mailflow.records import evidence

    secret = ctx.obj.settings.records.heads_key
    key = secret.get_secret_value().encode("utf-8") if secret else None
    with connection(ctx.obj.engine, read_only=True) as conn:
        if check is None:
            sys.stdout.write(evidence.heads(conn, utcnow(), key=key).text)
            return
        problems = evidence.check_heads(conn, check.read_text(encoding="utf-8"), key=key)
    for problem in problems:
        console.print(problem, highlight=False, markup=False)
    if problems:
        raise typer.Exit(1)
    console.print("every head of that digest is still in its diary", highlight=False)


@retention_app.command("run")
def retention_run(
    ctx: typer.Context,
    apply: Annotated[bool, typer.Option("--apply", help="remove (without it: only show what would go)")] = False,
    now: Annotated[str | None, typer.Option(help="judge at this time (ISO) instead of now")] = None,
    as_json: JsonOption = False,
) -> None:
    """Closed cases past their retention period: show them, or with --apply remove their personal data."""
    from mailflow.records import retention

    at = _when(now)
    members = [m.name for m in ctx.obj.settings.committee.members]
    outcome = retention.run(ctx.obj.engine, ctx.obj.settings, members, at, apply=apply)
    rows = [{"ref": v.ref, "expires": v.expires_at, "expired": v.expired, "why": v.why} for v in outcome.verdicts]
    emit_rows(rows, ["ref", "expires", "expired", "why"], as_json=as_json, title="Retention")
    if as_json:
        return
    if apply:
        console.print(f"removed the personal data of {len(outcome.removed)} case(s)", highlight=False)
    else:
        console.print(f"{len(outcome.expired)} case(s) would be anonymised; run again with --apply", highlight=False)


@report_app.command("transparency")
def report_transparency(
    ctx: typer.Context,
    year: Annotated[int, typer.Option(help="the year reported on")],
    out: Annotated[Path, typer.Option(help="the folder to write into")] = Path("."),
) -> None:
    """The yearly anonymised transparency report: Markdown, HTML and an SVG chart."""
    from mailflow.database import connection
    from mailflow.records import transparency
    from mailflow.records.facts import load

    settings = ctx.obj.settings
    with connection(ctx.obj.engine, read_only=True) as conn:
        facts = load(conn)
    report = transparency.build(
        facts, year, committee=settings.service.committee_name, threshold=settings.records.suppress_below
    )
    for path in transparency.write(report, out):
        console.print(f"written: {path}", highlight=False)
