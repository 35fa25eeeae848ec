"""The command line as an operator runs it: ``python -m mailflow`` in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MAILFLOW = [sys.executable, "-m", "mailflow"]


def run(config: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "MAILFLOW_CONFIG": str(config)}
    return subprocess.run([*MAILFLOW, *args], input=stdin, capture_output=True, env=env, timeout=120, check=False)
