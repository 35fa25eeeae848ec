"""Hypothesis profiles for the hostile-input properties.

``ci`` (the default, ``make test``): few examples, derandomized, no example database: the same
inputs every run, so the suite stays deterministic and fast. ``fuzz`` (``make fuzz``, or
``MAILFLOW_HYPOTHESIS_PROFILE=fuzz``): many random examples, failures kept under
benchmarks/results/hypothesis (git-ignored) so that a rerun replays them first.
"""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

_RELAXED = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci", max_examples=30, derandomize=True, database=None, deadline=None, suppress_health_check=_RELAXED
)
settings.register_profile(
    "fuzz",
    max_examples=int(os.environ.get("MAILFLOW_HYPOTHESIS_EXAMPLES", "2000")),
    deadline=None,
    database=DirectoryBasedExampleDatabase(
        str(Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "hypothesis")
    ),
    suppress_health_check=_RELAXED,
)
settings.load_profile(os.environ.get("MAILFLOW_HYPOTHESIS_PROFILE", "ci"))
