"""Encryption at rest in the tests: fixed keys, the switch that runs a slice of the suite with
encryption on, and the means to look for plaintext in what the database keeps on disk.

``MAILFLOW_TEST_ENCRYPTION=1`` turns encryption on for every Stack (its settings get a key file)
and for the migrated databases of tests/support/database.py; e.g.

    MAILFLOW_TEST_ENCRYPTION=1 .venv/bin/pytest tests/e2e/test_committee.py tests/e2e/test_process.py
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from mailflow.crypt.keyring import Keyring, key_id, parse_key

# Test keys only: never use these anywhere else.
KEY_A = "HcBNUYleBAcOxOQWUdJjoyQQIMnja1-c9P4zd3Qv3BQ="
KEY_B = "ayqPE18Tw30ybPsPjutMNH03LLWvXFpuUew8avwsOfs="
KEY_C = "ExK3cXPyVg62GxE1X3eTOxtYI1mV5zw2iPqGIfag0fw="
ID_A, ID_B, ID_C = (key_id(parse_key(k)) for k in (KEY_A, KEY_B, KEY_C))

ENV = "MAILFLOW_TEST_ENCRYPTION"


def encryption_on() -> bool:
    """Is the suite asked to run with encryption at rest (``MAILFLOW_TEST_ENCRYPTION=1``)?"""
    return os.environ.get(ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def key_file(directory: Path, *keys: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"mailflow-{'-'.join(key_id(parse_key(k)) for k in keys)}.keys"
    path.write_text("# test keys, the first encrypts\n" + "\n".join(keys) + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


def storage(directory: Path, *keys: str) -> dict[str, dict[str, str]]:
    """Settings overrides: encryption at rest with these keys, from a key file in ``directory``."""
    return {"storage": {"encryption_key_file": str(key_file(directory, *keys))}}


def default_storage(directory: Path) -> dict[str, dict[str, str]]:
    """What a Stack's settings get by default: encryption with KEY_A when the suite asks for it."""
    return storage(directory, KEY_A) if encryption_on() else {}


def default_keyring() -> Keyring | None:
    return Keyring([parse_key(KEY_A)]) if encryption_on() else None


def sqlite_files(database: Path) -> bytes:
    """Every byte SQLite keeps of a database: the file, its write-ahead log and shared memory."""
    found = b""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = Path(f"{database}{suffix}")
        if path.exists():
            found += path.read_bytes()
    return found


def pg_dump(url: str) -> bytes:
    """Every row of every table of a PostgreSQL database as text (``pg_dump --data-only``)."""
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    done = subprocess.run(["pg_dump", "--data-only", "--no-owner", plain], capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    # pg_dump 17.6+ brackets its output with \restrict and \unrestrict and a random key: not data
    lines = done.stdout.splitlines(keepends=True)
    return b"".join(line for line in lines if not line.startswith((b"\\restrict", b"\\unrestrict")))
