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
from rich.table import Table

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
    table = Table(title=title, show_lines=False)
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*(_cell(row.get(c)) for c in columns))
    console.print(table)
    if not rows:
        console.print("(none)")


def _cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return str(value)


def fail(message: str, code: int = 1) -> NoReturn:
    import typer

    errors.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
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
