"""Is a mail that claims to come from a committee member really from that member?

``check_sender`` looks at the From header (exactly one mailbox; its address, never its display
name, must be a roster address) and then asks, in order, until one vouches for the From domain:

1. ``submitted_by``: the roster address our submission listener authenticated (same member as From);
2. believed Authentication-Results (mailflow.auth.results: trusted authserv-id, above the first
   Received, in mail that came through a trusted hop: see :func:`trusted_hop`);
3. our own DKIM verification, when ``[authentication] verify_dkim`` (mailflow.auth.signatures).

Mail from anyone else (a reporter, a reported person, a witness) is checked too, against the same
believed results only: when our MX says it fails DMARC (or DKIM and SPF) for its From domain it is
``failed``, recorded as unverified and flagged, and never counts as that person's own word.

It never raises on what a message contains: anything malformed is ``verified=False`` with a reason.
Reasons are for the chair and the log: they name headers, hosts and domains, never a body.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

from mailflow.auth.headers import from_mailbox, header_fields
from mailflow.auth.results import Vouch, check_authentication_results
from mailflow.auth.roster import Roster, RosterMember
from mailflow.auth.signatures import DnsFunc, check_dkim
from mailflow.config import AuthenticationSettings
from mailflow.mime.tree import MessageTree
from mailflow.model.types import InboundSource

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
    failed: bool = False
    """A trusted hop says the From domain's authentication failed (DMARC, or DKIM and SPF): a forgery."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """How a message reached us, which decides whose Authentication-Results it may carry."""

    source: InboundSource
    peer: str | None = None
    """The client address of the SMTP or LMTP connection that handed it over."""
    submitted_by: str | None = None
    """The roster address our submission listener authenticated, if it came that way."""


def trusted_hop(arrival: Arrival, settings: AuthenticationSettings) -> str | None:
    """None when the hop that handed the message over is one whose Authentication-Results we
    believe, else why not. SMTP and LMTP: the client's address must be one of ``trusted_relays``
    (our MX hosts); anyone else who can connect could write any Authentication-Results they like.
    A pipe is run by the local MTA; IMAP and imports read the mailbox the provider's MX delivered
    to. The submission listener authenticates members by login instead."""
    if arrival.source in (InboundSource.SMTP, InboundSource.LMTP):
        if not settings.trusted_relays:
            return "no trusted relay is configured ([authentication] trusted_relays)"
        try:
            peer = ipaddress.ip_address((arrival.peer or "").strip("[]"))
        except ValueError:
            return "the connection's address is unknown"
        if not any(peer in ipaddress.ip_network(net, strict=False) for net in settings.trusted_relays):
            return "the message did not come from a trusted relay ([authentication] trusted_relays)"
        return None
    if arrival.source is InboundSource.SUBMISSION:
        return "mail from the submission listener is vouched for by its login"
    return None


def check_sender(
    tree: MessageTree,
    raw: bytes,
    roster: Roster,
    settings: AuthenticationSettings,
    *,
    arrival: Arrival,
    dnsfunc: DnsFunc | None = None,
) -> SenderCheck:
    try:
        return _check(tree, raw, roster, settings, arrival, dnsfunc)
    except Exception as exc:  # a last line of defence: a bug here must not lose the message
        log.exception("sender check failed")
        return SenderCheck(None, None, False, None, (f"the sender could not be checked ({type(exc).__name__})",))


def _check(
    tree: MessageTree,
    raw: bytes,
    roster: Roster,
    settings: AuthenticationSettings,
    arrival: Arrival,
    dnsfunc: DnsFunc | None,
) -> SenderCheck:
    fields = header_fields(tree)
    sender = from_mailbox(fields)
    if sender.address is None or sender.domain is None:
        return SenderCheck(None, None, False, None, (sender.problem or "no usable From address",))
    untrusted = trusted_hop(arrival, settings)
    if untrusted is None:
        vouch = check_authentication_results(fields, settings.trusted_authserv_ids, sender.domain)
    else:
        vouch = Vouch(None, (f"Authentication-Results not believed: {untrusted}",))
    member = roster.by_address(sender.address)
    if member is None:
        why = ("the From address is not a committee member's address", *vouch.reasons)
        return SenderCheck(sender.address, None, False, None, why, failed=vouch.failed)

    reasons: list[str] = []
    submitted_by = arrival.submitted_by
    if submitted_by is not None:
        if roster.by_address(submitted_by) == member:
            return SenderCheck(sender.address, member, True, "submission", ())
        reasons.append("submitted through a login that is not the From address's member")

    if vouch.method is None and settings.verify_dkim:
        dkim_vouch = check_dkim(raw, fields, sender.domain, dnsfunc)
        vouch = Vouch(dkim_vouch.method, vouch.reasons + dkim_vouch.reasons, vouch.failed)
    elif vouch.method is None:
        vouch = Vouch(None, (*vouch.reasons, "own DKIM verification is turned off ([authentication] verify_dkim)"))
    if vouch.method is not None:
        return SenderCheck(sender.address, member, True, vouch.method, ())
    reasons.extend(vouch.reasons)
    why = tuple(reasons) or ("no method vouches for the sender",)
    return SenderCheck(sender.address, member, False, None, why, failed=vouch.failed)


__all__ = ["Arrival", "DnsFunc", "Roster", "RosterMember", "SenderCheck", "check_sender", "trusted_hop"]
