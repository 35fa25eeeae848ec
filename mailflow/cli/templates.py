"""``mailflow templates ...``: the notice templates, as shipped or as a committee's own copy.

``check`` renders every notice in the catalogue (:mod:`mailflow.notices.catalogue`) with its sample
data from the configured ``[service] templates_dir`` (or ``--templates-dir``), under StrictUndefined,
and each wording a choice key selects. It exits 1 naming each failing notice and why (undefined
variable, syntax error, line break in a subject, missing file), 78 when the directory is missing,
and otherwise prints a summary table. A folder on disk that the catalogue does not know is named
as a warning: the service never sends it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mailflow.cli.output import console, emit_rows, errors, fail

EX_CONFIG = 78

app = typer.Typer(help="The notice templates: check that every notice renders.", no_args_is_help=True)


@app.callback()
def _templates() -> None:
    """The notice templates: check that every notice renders."""


@app.command("check")
def check(
    ctx: typer.Context,
    templates_dir: Annotated[
        Path | None,
        typer.Option("--templates-dir", help="templates to check (default: [service] templates_dir, else shipped)"),
    ] = None,
) -> None:
    """Render every notice with its sample data; fail naming each notice that does not render."""
    from mailflow.notices.catalogue import check_notice, folders_on_disk, notices, render_notice
    from mailflow.outbound.render import Renderer, TemplateError

    directory = templates_dir if templates_dir is not None else ctx.obj.settings.templates_dir
    try:
        renderer = Renderer(directory)
    except TemplateError as exc:
        fail(str(exc), EX_CONFIG)
    catalogue = notices()
    failures = {item.name: check_notice(renderer, item) for item in catalogue}
    failures = {name: problems for name, problems in failures.items() if problems}
    known = {item.name for item in catalogue}
    for stray in sorted(set(folders_on_disk(directory)) - known):
        errors.print(
            f"warning: {stray}: not a notice in the catalogue; not checked, never sent", highlight=False, markup=False
        )
    if failures:
        for name, problems in failures.items():
            for problem in problems:
                errors.print(f"FAIL {name}: {problem}", highlight=False, markup=False)
        fail(f"{len(failures)} of {len(catalogue)} notice(s) in {directory} do not render")
    rows = []
    for item in catalogue:
        rendered = render_notice(renderer, item.name, item.sample)
        rows.append({"notice": item.name, "sample subject": rendered.subject, "html": rendered.html is not None})
    emit_rows(rows, ["notice", "sample subject", "html"], as_json=False, title=f"Notices in {directory}")
    console.print(f"ok: all {len(catalogue)} notices render", highlight=False)
