"""Output for operators (a readable table) and for scripts (``--json``)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime
from enum import Enum
from typing import Any, NoReturn

from rich.console import Console

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, Enum):
        return value.value
    return value


def to_json(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False, indent=2)


def emit_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool, title: str) -> None:
    if as_json:
        print(to_json([{k: _plain(v) for k, v in row.items()} for row in rows]))
        return
    print(plain_table(rows, columns, title), end="", flush=True)


def plain_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str) -> str:
    """A title, a header line and one line per row, columns aligned, nothing wrapped or cut: cheap
    for a hundred rows (a rich table took 0.2 s), and each row stays one line for grep."""
    cells = [[" ".join(_cell(row.get(c)).split()) for c in columns] for row in rows]
    heads = [c.replace("_", " ") for c in columns]
    widths = [max([len(h), *(len(line[i]) for line in cells)]) for i, h in enumerate(heads)]
    lines = [title, "  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip() for line in cells]
    if not rows:
        lines.append("(none)")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def fail(message: str, code: int = 1) -> NoReturn:
    import typer
    from rich.markup import escape

    # The message is text, not markup: it may name "[intake.imap]" or quote
    # "[to be completed before approval]", which rich would otherwise swallow as tags.
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, markup=True)
    raise typer.Exit(code)


def configure_logging(verbose: bool = False) -> None:
    """Log lines to stderr for the long-running commands (serve, imap poll, ingest)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Third-party loggers that would echo addresses or message lines at their chatty levels.
    for noisy in ("mail.log", "aiosmtpd", "dramatiq", "pika", "imapclient"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
