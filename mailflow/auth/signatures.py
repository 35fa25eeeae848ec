"""Our own DKIM verification (dkimpy), with an injectable resolver.

A signature vouches for the From domain when it verifies, its d= aligns with the From domain
(mailflow.auth.alignment), it covers the From header (h= includes from), and it covers the whole
body (no l= tag: with one, anyone may append text to a signed message). Signatures whose d= does
not align are not even looked up. DNS trouble is a reason, never an exception.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import dkim
from dkim.dnsplug import get_txt
from dkim.util import parse_tag_value

from mailflow.auth.alignment import aligned
from mailflow.auth.headers import HeaderField
from mailflow.auth.results import Vouch

DnsFunc = Callable[[bytes], bytes | None]
"""dkimpy's resolver: the TXT record for a name such as ``b"sel._domainkey.example.org."``, or None."""

MAX_SIGNATURES = 5  # each one may cost a DNS lookup
DNS_TIMEOUT_SECONDS = 5

# dkimpy logs signature tags (i= may be an address) at DEBUG and key problems at ERROR; the
# reasons below say the same without addresses, so its logger stays quiet.
_QUIET = logging.getLogger("mailflow.auth.dkimpy")
_QUIET.setLevel(logging.CRITICAL + 1)
_QUIET.propagate = False
_ADDRESS = re.compile(r"\S+@\S+")


def default_dnsfunc(name: bytes) -> bytes | None:
    """dkimpy's own resolver (dnspython)."""
    result: bytes | None = get_txt(name, timeout=DNS_TIMEOUT_SECONDS)
    return result


def check_dkim(raw: bytes, fields: tuple[HeaderField, ...], from_domain: str, dnsfunc: DnsFunc | None) -> Vouch:
    signatures = [f.value for f in fields if f.name == "dkim-signature"]
    if not signatures:
        return Vouch(None, ("no DKIM signature",))
    reasons: list[str] = []
    verifier: dkim.DKIM | None = None
    for index, value in enumerate(signatures[:MAX_SIGNATURES]):
        label = f"DKIM signature {index + 1}"
        tags = _tags(value)
        domain = tags.get(b"d", b"").decode("ascii", "replace").strip()
        if not domain:
            reasons.append(f"{label} has no readable d= tag")
            continue
        label = f"{label} (d={_shown(domain)})"
        if not aligned(domain, from_domain):
            reasons.append(f"{label} is not aligned with the From domain")
            continue
        if b"l" in tags:
            reasons.append(f"{label} covers only part of the body (l=); not accepted")
            continue
        if b"from" not in {h.strip().lower() for h in tags.get(b"h", b"").split(b":")}:
            reasons.append(f"{label} does not cover the From header")
            continue
        problems: list[str] = []
        try:
            if verifier is None:
                verifier = dkim.DKIM(raw, logger=_QUIET)
            ok = verifier.verify(idx=index, dnsfunc=_resolver(dnsfunc or default_dnsfunc, problems))
        except dkim.DKIMException as exc:
            reasons.append(f"{label} does not verify: {_explain(exc)}")
            continue
        except Exception as exc:  # dkimpy on crafted input: never let it crash the caller
            reasons.append(f"{label} could not be checked ({type(exc).__name__})")
            continue
        if ok:
            return Vouch(f"dkim {domain.lower()}")
        reasons.append(f"{label} does not verify" + (f": {'; '.join(problems)}" if problems else ""))
    if len(signatures) > MAX_SIGNATURES:
        reasons.append(f"only the first {MAX_SIGNATURES} DKIM signatures were checked")
    return Vouch(None, tuple(reasons))


def _tags(value: str) -> dict[bytes, bytes]:
    try:
        tags: dict[bytes, bytes] = parse_tag_value(value.encode("utf-8", "surrogateescape"))
    except Exception:
        return {}
    return tags


def _resolver(dnsfunc: DnsFunc, problems: list[str]) -> Callable[..., bytes | None]:
    """Adapt ``dnsfunc`` to dkimpy's call (it passes timeout=) and note what went wrong, for the reasons."""

    def lookup(name: bytes, timeout: Any = None) -> bytes | None:
        shown = _shown(name.decode("ascii", "replace"))
        try:
            record = dnsfunc(name)
        except Exception as exc:
            problems.append(f"DNS lookup of {shown} failed ({type(exc).__name__})")
            raise dkim.DnsTimeoutError(f"lookup of {shown} failed") from exc
        if record is None:
            problems.append(f"no DKIM key published at {shown}")
        return record

    return lookup


def _explain(exc: Exception) -> str:
    text = str(exc)
    if text.startswith("body hash mismatch"):
        return "the body was changed after signing (body hash mismatch)"
    return _shown(text)


def _shown(text: str) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text)
    return _ADDRESS.sub("(an address)", text)[:160]
