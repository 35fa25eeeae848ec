"""The shipped templates and a renderer on them."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailflow.outbound.render import Renderer

SHIPPED = Path(__file__).resolve().parents[2] / "templates"


@pytest.fixture(scope="session")
def renderer() -> Renderer:
    return Renderer(SHIPPED)
