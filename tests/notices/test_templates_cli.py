"""``mailflow templates check`` as an operator runs it: a real process, shipped or broken templates."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mailflow.notices import notices
from tests.notices.conftest import SHIPPED
from tests.support.stack import make_settings, write_config

MAILFLOW = [sys.executable, "-m", "mailflow"]


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAILFLOW_CONFIG": str(config), "COLUMNS": "200"}
    return subprocess.run([*MAILFLOW, *args], capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """A committee's copy of the templates with four kinds of mistake and one folder of its own."""
    copy = tmp_path / "committee-templates"
    shutil.copytree(SHIPPED, copy)
    hiatus = copy / "reported/resolution-hiatus/body.txt.j2"
    hiatus.write_text(hiatus.read_text().replace("{{ spaces }}", "{{ spaces_list }}", 1))
    update = copy / "reporter/status-update/body.txt.j2"
    update.write_text(update.read_text() + "{% if %}\n")
    (copy / "board/report/subject.txt.j2").write_text("Report on\ncase {{ ref }}\n")
    (copy / "mediation/invitation/body.txt.j2").unlink()
    (copy / "reporter/thanks").mkdir()
    return copy


def _config(tmp_path: Path, **service: object) -> Path:
    settings = make_settings(tmp_path, None, service={"data_dir": str(tmp_path / "data"), **service})
    return write_config(tmp_path / "mailflow.toml", settings)


def test_the_shipped_templates_pass(tmp_path: Path) -> None:
    done = run(_config(tmp_path), "templates", "check")
    assert done.returncode == 0, done.stderr
    assert f"ok: all {len(notices())} notices render" in done.stdout
    for item in notices():
        assert item.name in done.stdout
    assert done.stderr == ""


def test_a_broken_copy_fails_naming_each_notice_and_why(tmp_path: Path, broken: Path) -> None:
    done = run(_config(tmp_path), "templates", "check", "--templates-dir", str(broken))
    assert done.returncode == 1
    failing = {line.split(":")[0].removeprefix("FAIL ") for line in done.stderr.splitlines() if line.startswith("FAIL")}
    assert failing == {
        "reported/resolution-hiatus",
        "reporter/status-update",
        "board/report",
        "mediation/invitation",
    }
    assert "'spaces_list' is undefined" in done.stderr
    assert "spaces_list" in done.stderr and "TemplateSyntaxError" in done.stderr
    assert "subject contains a line break" in done.stderr
    assert "mediation/invitation/body.txt.j2 not found" in done.stderr
    assert "warning: reporter/thanks: not a notice in the catalogue" in done.stderr
    assert "4 of" in done.stderr and "do not render" in done.stderr
    assert "ok:" not in done.stdout


def test_the_configured_templates_dir_is_the_default(tmp_path: Path, broken: Path) -> None:
    done = run(_config(tmp_path, templates_dir=str(broken)), "templates", "check")
    assert done.returncode == 1 and "FAIL board/report" in done.stderr
    shipped = run(_config(tmp_path, templates_dir=str(broken)), "templates", "check", "--templates-dir", str(SHIPPED))
    assert shipped.returncode == 0, shipped.stderr


def test_a_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    done = run(_config(tmp_path), "templates", "check", "--templates-dir", str(tmp_path / "nowhere"))
    assert done.returncode == 78
    assert "templates directory not found" in done.stderr
