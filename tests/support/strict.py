"""Skips that become failures in CI.

A developer's machine may lack the shared corpus, Dovecot, PostgreSQL, Redis or RabbitMQ: the
tests that need them skip there with the reason. CI sets ``MAILFLOW_STRICT=1`` and then every
such skip is a failure, because a skipped test is not a passing test.
"""

from __future__ import annotations

import os

import pytest

STRICT = os.environ.get("MAILFLOW_STRICT", "") not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip (developer machine) or fail (CI) because something the test needs is missing."""
    if STRICT:
        pytest.fail(f"required in CI but unavailable: {reason}", pytrace=False)
    pytest.skip(reason)
