"""The shared real-world corpus, read in place from ../shared/corpus (never copied into the repository)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.strict import unavailable

_DEFAULT = Path(__file__).resolve().parents[2].parent / "shared" / "corpus"


def corpus_root() -> Path:
    root = Path(os.environ.get("MAILFLOW_CORPUS", _DEFAULT))
    if not (root / "INDEX.md").is_file():
        unavailable(f"shared corpus not found at {root} (set MAILFLOW_CORPUS)")
    return root


def corpus_file(relative: str) -> Path:
    return corpus_root() / relative


@cache
def oracle(name: str) -> Any:
    return json.loads((corpus_root() / "oracles" / name).read_text(encoding="utf-8"))
