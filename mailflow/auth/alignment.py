"""Domain alignment between the From domain and an authenticated domain (DKIM d=, DMARC header.from).

Deliberately simple and strict, in the spirit of DMARC's relaxed alignment without a public-suffix
list: two domains align when they are equal or one is a dot-suffix of the other
(``mail.example.org`` and ``example.org``), and the shorter one has at least two labels (a
signature by ``d=org`` vouches for nothing). ``example-org.com``, ``examp1e.org`` and
``example.org.evil.example`` do not align with ``example.org``.
"""

from __future__ import annotations


def normalise_domain(domain: str) -> str:
    """Lowercase, no trailing dot, internationalised labels as their ASCII (punycode) form."""
    domain = domain.strip().rstrip(".").lower()
    try:
        return domain.encode("idna").decode("ascii")
    except UnicodeError:
        return domain


def aligned(first: str, second: str) -> bool:
    a, b = normalise_domain(first), normalise_domain(second)
    if not a or not b:
        return False
    shorter, longer = sorted((a, b), key=len)
    if shorter.count(".") < 1 or "" in shorter.split("."):
        return False
    return longer == shorter or longer.endswith("." + shorter)
