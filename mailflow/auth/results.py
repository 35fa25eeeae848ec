"""Authentication-Results (RFC 8601) that we may believe, and what they vouch for.

A message can carry any Authentication-Results field its sender cares to write. One is believed
only when the message came to us from a trusted hop (``mailflow.auth.sender`` decides by the
connection: ``[authentication] trusted_relays``) and both hold:

* its authserv-id is one of ``[authentication] trusted_authserv_ids`` (our own MTA), and
* it sits above the first Received field: the trusted hop adds its result and its Received at
  the top of the message, so anything below a Received was there before that hop (a copy the
  sender wrote, or an earlier hop's). A message with no Received field at all has not passed
<<<<<<< HEAD
  through a trusted hop, so none of its Authentication-Results are believed. Our own Received
  field, which the spool puts on top of every message it stores (mailflow.parse.trace), is
  not a hop: ``mailflow.auth.headers.header_fields`` leaves out the first field when it is ours.
=======
  through a trusted hop, so none of its Authentication-Results are believed. (Our own Received
  field, which the spool puts on top of every stored message, is not seen here: the pipeline
  reads the bytes as the client sent them.)
>>>>>>> limits

Believed results vouch for the From domain with ``dmarc=pass`` whose header.from equals it, or
``dkim=pass`` whose header.d (else the domain of header.i) aligns with it (mailflow.auth.alignment).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import authres

from mailflow.auth.alignment import aligned, normalise_domain
from mailflow.auth.headers import HeaderField

MAX_FIELDS = 20  # more than this many Authentication-Results above the first Received is not a real MTA


@dataclass(frozen=True, slots=True)
class Vouch:
    """The outcome of one verification method: ``method`` names what vouched, else ``reasons`` say why not."""

    method: str | None
    reasons: tuple[str, ...] = ()
    failed: bool = False
    """A believed result says the From domain's mail failed: ``dmarc=fail`` for it, or DKIM not
    passing for it while ``spf=fail``. Mail in a party's name that fails this way is a forgery
    until shown otherwise."""


@dataclass(frozen=True, slots=True)
class _Result:
    method: str
    result: str
    properties: dict[str, str]


def check_authentication_results(fields: tuple[HeaderField, ...], trusted: Iterable[str], from_domain: str) -> Vouch:
    trusted_ids = {normalise_domain(t) for t in trusted if t.strip()}
    reasons: list[str] = []
    seen_received = False
    believed: list[tuple[str, list[_Result]]] = []
    for field in fields:
        if field.name == "received":
            seen_received = True
            continue
        if field.name != "authentication-results":
            continue
        parsed = _parse(field.value)
        if parsed is None:
            reasons.append("an Authentication-Results header could not be parsed; ignored")
            continue
        authserv_id, results = parsed
        if authserv_id not in trusted_ids:
            reasons.append(f"Authentication-Results from {_shown(authserv_id)}, not a trusted host; ignored")
        elif seen_received:
            reasons.append(
                f"Authentication-Results naming {authserv_id} below a Received header "
                "(not added by the trusted hop); ignored"
            )
        else:
            believed.append((authserv_id, results))
    if not seen_received and believed:
        reasons.append("no Received header: no trusted hop added the Authentication-Results; ignored")
        believed = []
    if len(believed) > MAX_FIELDS:
        reasons.append("implausibly many Authentication-Results headers; ignored")
        believed = []
    for authserv_id, results in believed:
        for result in results:
            if _vouches(result, from_domain):
                return Vouch(f"authentication-results {authserv_id} {result.method}")
            if result.method in ("dkim", "dmarc"):
                reasons.append(_why_not(authserv_id, result))
    if not any(r.method in ("dkim", "dmarc") for _, results in believed for r in results):
        reasons.append("no trusted Authentication-Results with a DKIM or DMARC result")
    return Vouch(None, tuple(reasons), failed=any(_fails(results, from_domain) for _, results in believed))


def _fails(results: list[_Result], from_domain: str) -> bool:
    dmarc = [r for r in results if r.method == "dmarc"]
    if any(
        r.result == "fail" and _same_domain(r.properties.get("header.from", from_domain), from_domain) for r in dmarc
    ):
        return True
    dkim_pass = any(
        r.method == "dkim" and r.result == "pass" and aligned(_dkim_domain(r), from_domain) for r in results
    )
    spf_fail = any(r.method == "spf" and r.result == "fail" for r in results)
    return spf_fail and not dkim_pass and not any(r.result == "pass" for r in dmarc)


def _same_domain(first: str, second: str) -> bool:
    return normalise_domain(first) == normalise_domain(second)


def _parse(value: str) -> tuple[str, list[_Result]] | None:
    try:
        header = authres.AuthenticationResultsHeader.parse_value(value)
        authserv_id = normalise_domain(str(header.authserv_id or ""))
        results = [
            _Result(
                str(r.method or "").lower(),
                str(r.result or "").lower(),
                {f"{p.type}.{p.name}".lower(): str(p.value or "") for p in r.properties},
            )
            for r in header.results
        ]
    except Exception:  # authres raises its own errors, and others on crafted input
        return None
    return (authserv_id, results) if authserv_id else None


def _vouches(result: _Result, from_domain: str) -> bool:
    if result.result != "pass":
        return False
    if result.method == "dmarc":
        header_from = result.properties.get("header.from", "")
        return bool(header_from) and normalise_domain(header_from) == normalise_domain(from_domain)
    if result.method == "dkim":
        domain = _dkim_domain(result)
        return bool(domain) and aligned(domain, from_domain)
    return False


def _dkim_domain(result: _Result) -> str:
    domain = result.properties.get("header.d", "")
    if not domain:
        domain = result.properties.get("header.i", "").rpartition("@")[2]
    return domain


def _why_not(authserv_id: str, result: _Result) -> str:
    if result.result != "pass":
        return f"{authserv_id} reports {result.method}={_shown(result.result)}"
    if result.method == "dmarc":
        other = _shown(result.properties.get("header.from", ""))
        return f"{authserv_id} reports dmarc=pass for another domain ({other})"
    return f"{authserv_id} reports dkim=pass for d={_shown(_dkim_domain(result))}, not aligned with the From domain"


def _shown(text: str) -> str:
    """A sender-written token, made safe for a reason: short, printable, no address."""
    text = "".join(c if c.isprintable() else "?" for c in text)[:80]
    return "(an address)" if "@" in text else (text or "(none)")
