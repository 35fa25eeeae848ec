"""Is a mail that claims to come from a committee member really from that member?

``check_sender`` looks at the From header (exactly one mailbox; its address, never its display
name, must be a roster address) and then asks, in order, until one vouches for the From domain:

1. ``submitted_by``: the roster address our submission listener authenticated (same member as From);
2. believed Authentication-Results (mailflow.auth.results: trusted authserv-id, above the first Received);
3. our own DKIM verification, when ``[authentication] verify_dkim`` (mailflow.auth.signatures).

It never raises on what a message contains: anything malformed is ``verified=False`` with a reason.
Reasons are for the chair and the log: they name headers, hosts and domains, never a body.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mailflow.auth.headers import from_mailbox, header_fields
from mailflow.auth.results import Vouch, check_authentication_results
from mailflow.auth.roster import Roster, RosterMember
from mailflow.auth.signatures import DnsFunc, check_dkim
from mailflow.config import AuthenticationSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SenderCheck:
    address: str | None
    """The From address, lowercased; None when the From header is missing or unusable."""
    member: RosterMember | None
    """The roster member whose address the From address is (display names are ignored)."""
    verified: bool
    """True only when ``member`` is set and one method vouches for it."""
    method: str | None
    """What vouched: "submission", "authentication-results <authserv-id> dkim|dmarc", "dkim <d=>"."""
    reasons: tuple[str, ...]
    """Why not verified (empty when verified): readable, never containing a body."""


def check_sender(
    raw: bytes,
    roster: Roster,
    settings: AuthenticationSettings,
    *,
    dnsfunc: DnsFunc | None = None,
    submitted_by: str | None = None,
) -> SenderCheck:
    try:
        return _check(raw, roster, settings, dnsfunc, submitted_by)
    except Exception as exc:  # a last line of defence: a bug here must not lose the message
        log.exception("sender check failed")
        return SenderCheck(None, None, False, None, (f"the sender could not be checked ({type(exc).__name__})",))


def _check(
    raw: bytes,
    roster: Roster,
    settings: AuthenticationSettings,
    dnsfunc: DnsFunc | None,
    submitted_by: str | None,
) -> SenderCheck:
    fields = header_fields(raw)
    sender = from_mailbox(fields)
    if sender.address is None or sender.domain is None:
        return SenderCheck(None, None, False, None, (sender.problem or "no usable From address",))
    member = roster.by_address(sender.address)
    if member is None:
        return SenderCheck(sender.address, None, False, None, ("the From address is not a committee member's address",))

    reasons: list[str] = []
    if submitted_by is not None:
        if roster.by_address(submitted_by) == member:
            return SenderCheck(sender.address, member, True, "submission", ())
        reasons.append("submitted through a login that is not the From address's member")

    vouch = check_authentication_results(fields, settings.trusted_authserv_ids, sender.domain)
    if vouch.method is None and settings.verify_dkim:
        dkim_vouch = check_dkim(raw, fields, sender.domain, dnsfunc)
        vouch = Vouch(dkim_vouch.method, vouch.reasons + dkim_vouch.reasons)
    elif vouch.method is None:
        vouch = Vouch(None, (*vouch.reasons, "own DKIM verification is turned off ([authentication] verify_dkim)"))
    if vouch.method is not None:
        return SenderCheck(sender.address, member, True, vouch.method, ())
    reasons.extend(vouch.reasons)
    return SenderCheck(sender.address, member, False, None, tuple(reasons) or ("no method vouches for the sender",))


__all__ = ["DnsFunc", "Roster", "RosterMember", "SenderCheck", "check_sender"]
