"""Who really sent this? Sender authentication for committee members, and their submission passwords.

``check_sender`` decides whether a mail whose From is a committee member's address was sent by
that member (submission login, trusted Authentication-Results, or our own DKIM verification);
``hash_password`` / ``verify_password`` keep the submission listener's passwords as scrypt hashes.
"""

from __future__ import annotations

from mailflow.auth.passwords import hash_password, verify_password
from mailflow.auth.roster import Roster, RosterMember
from mailflow.auth.sender import Arrival, DnsFunc, SenderCheck, check_sender, trusted_hop

__all__ = [
    "Arrival",
    "DnsFunc",
    "Roster",
    "RosterMember",
    "SenderCheck",
    "check_sender",
    "hash_password",
    "trusted_hop",
    "verify_password",
]
