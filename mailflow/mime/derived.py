"""Extra readings of a text where a name can hide: entities, percent-encoding, base64 runs."""

from __future__ import annotations

import html
import re
from urllib.parse import unquote

__all__ = ["derived_texts"]

_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_ENTITY = re.compile(r"&(?:#\d+|#x[0-9a-fA-F]+|[A-Za-z]+\d*);")


def derived_texts(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    if "&" in text and _ENTITY.search(text):
        found.append(("HTML entities decoded", html.unescape(text)))
    if "%" in text and _PERCENT.search(text):
        found.append(("percent-decoded", unquote(text, errors="replace")))
    return [(label, derived) for label, derived in found if derived != text]
