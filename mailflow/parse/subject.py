"""Subject tags (``[conduct #2026-0007]``) and the reply/forward prefixes clients add."""

from __future__ import annotations

import re
from functools import cache

# Re:, RE:, AW:, SV:, VS:, Antw:, Réf:, 回复:, Fwd:, FW:, TR:, WG: ... possibly stacked and numbered (Re[2]:)
_PREFIX = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|antwort|ref|réf|rif|odp|res|r|ynt|atb|tr|wg|fw|fwd|enc|rv|doorst|"
    r"vl|továbbítás|回复|回覆|答复|转发|轉寄)(?:\s*\[\d+\]|\s*\(\d+\))?\s*[:：]\s*)+",  # noqa: RUF001 (CJK clients write a full-width colon)
    re.IGNORECASE,
)


@cache
def _tag_pattern(tag: str) -> re.Pattern[str]:
    return re.compile(r"\[\s*" + re.escape(tag) + r"\s*#\s*(\d{4}-\d{4,})\s*\]", re.IGNORECASE)


def tag_for(tag: str, ref: str) -> str:
    return f"[{tag} #{ref}]"


def find_tag(subject: str, tag: str) -> str | None:
    """The case reference in a subject's tag, if any."""
    match = _tag_pattern(tag).search(subject)
    return match[1] if match else None


def strip_prefixes(subject: str) -> str:
    return _PREFIX.sub("", subject).strip()


def with_tag(subject: str, tag: str, ref: str) -> str:
    """The subject with our tag once, at the front of what the person wrote."""
    cleaned = _tag_pattern(tag).sub("", subject).strip()
    cleaned = re.sub(r"\s{2,}", " ", cleaned)
    return f"{tag_for(tag, ref)} {cleaned}".strip()
