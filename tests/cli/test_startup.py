"""A command loads only what it uses: ``mailflow --help`` neither the configuration model nor the
database, a list command neither the ORM models, alembic, nor the subsystems that write the rows.
Checked by the modules a real process imported (``python -X importtime``), not by timing (the
figures are measured in benchmarks/cli_startup.py and stated in the README).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.stack import Stack, write_config

HEAVY_FOR_EVERY_COMMAND = ("sqlalchemy", "pydantic", "mailflow.config", "mailflow.database")
HEAVY_FOR_LISTS = ("sqlmodel", "alembic", "mailflow.model", "mailflow.pipeline", "mailflow.mime", "mailflow.policy",
                   "mailflow.runtime", "dramatiq", "jinja2", "pypdf", "extract_msg")  # fmt: skip


def imported(*args: str, config: Path | None = None) -> set[str]:
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_CONFIG"}
    if config is not None:
        env["MAILFLOW_CONFIG"] = str(config)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mailflow", *args], capture_output=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \| *(\S+)$", done.stderr.decode(), re.M))


def _loaded(modules: set[str], prefix: str) -> bool:
    return any(m == prefix or m.startswith(prefix + ".") for m in modules)


def test_help_loads_neither_the_configuration_nor_the_database() -> None:
    modules = imported("--help")
    assert not [p for p in (*HEAVY_FOR_EVERY_COMMAND, *HEAVY_FOR_LISTS) if _loaded(modules, p)]


@pytest.mark.parametrize("command", [["cases", "list"], ["outbox", "list"], ["quarantine", "list"],
                                     ["drafts", "list"], ["held", "list"]])  # fmt: skip
def test_a_list_command_loads_only_the_database_layer(sqlite_stack: Stack, command: list[str]) -> None:
    config = write_config(sqlite_stack.tmp / "mailflow.toml", sqlite_stack.settings())
    sqlite_stack.engine  # noqa: B018  (the schema exists, as on any running installation)
    modules = imported(*command, "--json", config=config)
    assert _loaded(modules, "sqlalchemy")
    assert not [p for p in HEAVY_FOR_LISTS if _loaded(modules, p)]
