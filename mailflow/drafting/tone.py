"""The tone check in an approval request: advice for the chair, never a block."""

from __future__ import annotations

from mailflow.notices.tone import tone_advice


def advice_lines(text: str) -> list[str]:
    """Lines for the approval request ("" when there is nothing to say), ending with a blank line."""
    found = tone_advice(text)
    if not found:
        return []
    lines = ["Tone (Django guidelines: stick to observed facts) - consider rewording:"]
    lines += [f"  - {a.excerpt!r}: {a.why}" for a in found[:10]]
    return [*lines, ""]
