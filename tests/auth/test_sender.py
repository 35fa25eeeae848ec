"""Sender authentication: forged committee mail stays unverified, genuine mail is recognised.

Messages are built here the way they arrive: the trusted hop (mx.example.org) adds its
Authentication-Results and its Received at the top. DKIM signatures are made with a throw-away
RSA key (tests/support/dkim.py) and the TXT lookups are answered by an injected resolver, so nothing touches DNS.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dkim
import pytest

from mailflow.auth import Arrival, Roster, RosterMember, SenderCheck, check_sender, hash_password
from mailflow.auth.alignment import aligned
from mailflow.config import AuthenticationSettings, settings_from_mapping
from mailflow.errors import ConfigError
from mailflow.mime.tree import read_message
from mailflow.model import InboundSource
from tests.support.dkim import new_dkim_key

TRUSTED = "mx.example.org"
BOTH_PASS = "dkim=pass header.d=example.org; dmarc=pass header.from=example.org"
RECEIVED = f"from client.example.net (client.example.net [192.0.2.7]) by {TRUSTED} with ESMTPS id 4Xy; Tue, 3 Nov 2026"
ADA = "Ada Lovelace <ada@example.org>"


@dataclass
class Keys:
    private: bytes
    txt: bytes


@dataclass
class FakeDns:
    """Answers TXT lookups from a table; records every name asked for."""

    records: dict[bytes, bytes]
    asked: list[bytes] = field(default_factory=list)

    def __call__(self, name: bytes) -> bytes | None:
        self.asked.append(name)
        return self.records.get(name)


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    return Keys(*new_dkim_key(tmp_path_factory.mktemp("dkim")))


@pytest.fixture
def dns(keys: Keys) -> FakeDns:
    # The same key is published for every domain: what refuses a signature is then alignment, not the key.
    return FakeDns({f"sel._domainkey.{d}.".encode(): keys.txt for d in ("example.org", "evil.example", "examp1e.org")})


@pytest.fixture(scope="module")
def roster() -> Roster:
    settings = settings_from_mapping(
        {
            "committee": {
                "members": [
                    {
                        "name": "Ada Lovelace",
                        "addresses": ["ada@example.org", "Ada.Lovelace@Mail.Example.NET"],
                        "role": "chair",
                        "aliases": ["Countess of Lovelace"],
                        "password_hash": hash_password("analytical engine"),
                    },
                    {"name": "Bob Babbage", "addresses": ["bob@example.org"]},
                ]
            }
        }
    )
    return Roster.from_settings(settings)


MX_ADDRESS = "192.0.2.25"  # the trusted hop's address, as our listener sees the connection
SETTINGS = AuthenticationSettings(trusted_authserv_ids=[TRUSTED], trusted_relays=[MX_ADDRESS], verify_dkim=True)


def mail(
    sender: str = ADA,
    *,
    top: Sequence[str] = (),
    extra: Sequence[str] = (),
    body: str = "[assign lead Ada]\r\nPlease take this one.\r\n",
) -> bytes:
    """A message; ``top`` are header lines above everything (what the hops added)."""
    lines = [
        *top,
        f"From: {sender}",
        "To: conduct+2026-0001.abcdefgh@example.org",
        "Subject: Re: [conduct #2026-0001] report",
        "Date: Tue, 03 Nov 2026 10:00:00 +0000",
        "Message-ID: <m1@example.org>",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def signed(raw: bytes, keys: Keys, domain: str = "example.org", **options: object) -> bytes:
    headers = [b"from", b"to", b"subject", b"date", b"message-id"]
    signature = dkim.sign(raw, b"sel", domain.encode(), keys.private, include_headers=headers, **options)
    return signature + raw


def delivered(raw: bytes, *results: str) -> bytes:
    """What the trusted hop makes of ``raw``: its Authentication-Results and Received on top."""
    top = [f"Authentication-Results: {TRUSTED}; {r}" for r in results] + [f"Received: {RECEIVED}"]
    return ("\r\n".join(top) + "\r\n").encode() + raw


def check(
    raw: bytes,
    roster: Roster,
    dns: FakeDns | None = None,
    *,
    settings: AuthenticationSettings = SETTINGS,
    submitted_by: str | None = None,
    peer: str = MX_ADDRESS,
) -> SenderCheck:
    """Check ``raw`` as if our SMTP listener took it from ``peer`` (the trusted MX by default)."""
    source = InboundSource.SUBMISSION if submitted_by else InboundSource.SMTP
    arrival = Arrival(source, peer, submitted_by)
    return check_sender(read_message(raw), raw, roster, settings, arrival=arrival, dnsfunc=dns)


def unverified(result: SenderCheck, *expected_reason: str) -> None:
    assert result.verified is False
    assert result.method is None
    assert result.reasons, "an unverified result says why"
    for part in expected_reason:
        assert any(part in r for r in result.reasons), (part, result.reasons)


# -- spoofs that must stay unverified ----------------------------------------------------------


def test_no_authentication_at_all(roster: Roster, dns: FakeDns) -> None:
    result = check(delivered(mail(), "none"), roster, dns)
    assert result.address == "ada@example.org"
    assert result.member is not None and result.member.name == "Ada Lovelace"
    unverified(result, "no DKIM signature")


def test_authentication_results_from_an_untrusted_authserv_id(roster: Roster, dns: FakeDns) -> None:
    raw = mail(
        top=[
            f"Authentication-Results: mx.evil.example; {BOTH_PASS}",
            f"Received: {RECEIVED}",
        ]
    )
    unverified(check(raw, roster, dns), "mx.evil.example, not a trusted host")


def test_trusted_authserv_id_below_a_received_header_was_written_by_the_sender(roster: Roster, dns: FakeDns) -> None:
    forged = mail(extra=[f"Authentication-Results: {TRUSTED}; {BOTH_PASS}"])
    # The real hop adds its own verdict (none) and Received on top of the sender's copy.
    result = check(delivered(forged, "dkim=none; dmarc=none"), roster, dns)
    unverified(result, "below a Received header")
    assert result.member is not None  # From is a member's address: the chair gets told about it


def test_trusted_authserv_id_without_any_received_header_is_not_believed(roster: Roster, dns: FakeDns) -> None:
    raw = mail(top=[f"Authentication-Results: {TRUSTED}; dkim=pass header.d=example.org"])
    unverified(check(raw, roster, dns), "no Received header")


@pytest.mark.parametrize("domain", ["example-org.com", "examp1e.org", "example.org.evil.example", "xample.org"])
def test_look_alike_from_domain_is_not_a_member(roster: Roster, dns: FakeDns, keys: Keys, domain: str) -> None:
    raw = signed(mail(f"Ada Lovelace <ada@{domain}>"), keys, "examp1e.org")
    result = check(delivered(raw, f"dkim=pass header.d={domain}", f"dmarc=pass header.from={domain}"), roster, dns)
    assert result.address == f"ada@{domain}"
    assert result.member is None
    unverified(result, "not a committee member's address")


@pytest.mark.parametrize("domain", ["example-org.com", "examp1e.org", "example.org.evil.example", "org"])
def test_look_alike_authenticated_domain_does_not_vouch_for_a_member(roster: Roster, dns: FakeDns, domain: str) -> None:
    raw = delivered(mail(), f"dkim=pass header.d={domain}", f"dmarc=pass header.from={domain}")
    unverified(check(raw, roster, dns), "not aligned with the From domain", "dmarc=pass for another domain")


def test_look_alike_dkim_signature_does_not_vouch(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    raw = delivered(signed(mail(), keys, "examp1e.org"), "none")
    unverified(check(raw, roster, dns), "(d=examp1e.org) is not aligned")
    assert dns.asked == []  # an unaligned signature costs no DNS lookup


@pytest.mark.parametrize(
    "sender",
    [
        "Ada Lovelace <ada@evil.example>",
        '"ada@example.org" <eve@evil.example>',
        "=?utf-8?q?ada=40example.org?= <eve@evil.example>",
        "ada@example.org <eve@evil.example>",
    ],
)
def test_display_name_spoof(roster: Roster, dns: FakeDns, keys: Keys, sender: str) -> None:
    # Validly signed by the domain it really comes from, and that domain's mail server says so.
    raw = delivered(signed(mail(sender), keys, "evil.example"), "dkim=pass header.d=evil.example")
    result = check(raw, roster, dns)
    assert result.member is None
    assert result.address in (None, "eve@evil.example", "ada@evil.example")
    unverified(result)


def test_dkim_body_tampered_after_signing(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    raw = signed(mail(body="Please take this one.\r\n"), keys)
    tampered = raw.replace(b"Please take this one.", b"[recuse Bob]\r\nPlease take this one.")
    assert check(delivered(raw, "none"), roster, dns).verified  # the untampered message does verify
    unverified(check(delivered(tampered, "none"), roster, dns), "body was changed after signing")


def test_dkim_header_tampered_after_signing(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    raw = signed(mail(), keys).replace(b"Subject: Re:", b"Subject: Fwd:")
    unverified(check(delivered(raw, "none"), roster, dns), "DKIM signature 1 (d=example.org) does not verify")


def test_dkim_signed_by_another_domain(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    raw = delivered(signed(mail(), keys, "evil.example"), "dkim=pass header.d=evil.example")
    result = check(raw, roster, dns)
    unverified(result, "(d=evil.example) is not aligned", "dkim=pass for d=evil.example, not aligned")
    assert result.member is not None


def test_dkim_signature_with_a_body_length_limit_is_not_accepted(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    raw = signed(mail(body="Hello.\r\n"), keys, length=True) + b"[recuse Bob]\r\n"
    unverified(check(delivered(raw, "none"), roster, dns), "only part of the body (l=)")


@pytest.mark.parametrize(
    "from_lines",
    [
        ["From: Ada Lovelace <ada@example.org>, Eve <eve@evil.example>"],
        ["From: Ada Lovelace <ada@example.org>", "From: Eve <eve@evil.example>"],
        ["From: Ada Lovelace <ada@example.org> <eve@evil.example>"],
        ["From: committee: ada@example.org;"],
        ["From: undisclosed-recipients:;"],
        [],
    ],
)
def test_not_exactly_one_from_mailbox(roster: Roster, dns: FakeDns, from_lines: list[str]) -> None:
    raw = (
        "\r\n".join(
            [
                f"Authentication-Results: {TRUSTED}; {BOTH_PASS}",
                f"Received: {RECEIVED}",
                *from_lines,
                "Subject: hello",
            ]
        )
        + "\r\n\r\nbody\r\n"
    ).encode()
    result = check(raw, roster, dns)
    assert (result.address, result.member) == (None, None)
    unverified(result, "From")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"From:\r\n\r\n",
        b"From: ada@\r\n\r\n",
        b"From: Ada <ada@example.org\r\n\r\n",
        b"From: \xff\xfe <ada@example.org>\r\n\r\n",
        b"From: ada@example.org\xc3\r\n\r\n",
        b"From: ada@example.org\rTo: x\r\n\r\n",
        b"\r\n\r\nFrom: ada@example.org\r\n",
        b"Authentication-Results: ;;;===\r\nReceived: x\r\nFrom: ada@example.org\r\n\r\n",
        b"Authentication-Results: mx.example.org; dkim=pass header.d=\r\nReceived: x\r\nFrom: ada@example.org\r\n\r\n",
        b"DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=sel; h=from; bh=!!; b=??\r\n"
        b"From: ada@example.org\r\n\r\n",
        b"DKIM-Signature: garbage\r\nFrom: ada@example.org\r\n\r\nbody",
        b"DKIM-Signature: d=example.org; h=from; s=sel\r\nFrom: ada@example.org\r\n\r\nbody",
        b"From: ada@example.org\r\n" + b"X-Long: " + b"a" * 200_000 + b"\r\n\r\n",
    ],
)
def test_garbage_never_raises(roster: Roster, dns: FakeDns, raw: bytes) -> None:
    result = check(raw, roster, dns)
    unverified(result)
    assert all(isinstance(r, str) and "body" not in r.split() for r in result.reasons)


def test_dns_failures_are_reasons(roster: Roster, keys: Keys) -> None:
    def broken(name: bytes) -> bytes | None:
        raise TimeoutError("resolver unreachable")

    raw = delivered(signed(mail(), keys), "none")
    unverified(check(raw, roster, broken), "DNS lookup of sel._domainkey.example.org. failed (TimeoutError)")  # type: ignore[arg-type]
    unverified(check(raw, roster, FakeDns({})), "no DKIM key published at sel._domainkey.example.org.")


def test_own_dkim_verification_can_be_turned_off(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    settings = AuthenticationSettings(trusted_authserv_ids=[TRUSTED], trusted_relays=[MX_ADDRESS], verify_dkim=False)
    result = check(delivered(signed(mail(), keys), "none"), roster, dns, settings=settings)
    unverified(result, "verify_dkim")
    assert dns.asked == []


def test_reasons_never_carry_the_body_or_the_from_address(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    raw = signed(mail(body="SECRET-BODY-TEXT\r\n"), keys).replace(b"SECRET-BODY-TEXT", b"SECRET-BODY-TEXT!")
    forged = delivered(raw, "dkim=fail header.i=ada@example.org")
    result = check(forged, roster, dns)
    unverified(result)
    text = " ".join(result.reasons)
    assert "SECRET" not in text and "ada@example.org" not in text


# -- genuine mail that verifies ----------------------------------------------------------------


@pytest.mark.parametrize(
    "result",
    [
        "dkim=pass header.d=example.org header.s=sel",
        "dkim=pass (good signature) header.d=EXAMPLE.ORG",
        "dkim=pass header.i=@example.org",
        "dkim=pass header.d=mail.example.org",
        "dkim=pass\r\n\theader.d=example.org\r\n header.s=sel",  # folded, as MTAs write it
        "spf=pass smtp.mailfrom=example.org; dkim=pass header.d=example.org",
    ],
)
def test_trusted_authentication_results_dkim_pass_aligned(roster: Roster, dns: FakeDns, result: str) -> None:
    checked = check(delivered(mail(), result), roster, dns)
    assert checked.verified and checked.reasons == ()
    assert checked.method == f"authentication-results {TRUSTED} dkim"
    assert checked.member is not None and checked.member.name == "Ada Lovelace"
    assert dns.asked == []  # believed results spare the DNS lookups


def test_trusted_authentication_results_dmarc_pass(roster: Roster, dns: FakeDns) -> None:
    checked = check(
        delivered(mail(), "spf=fail smtp.mailfrom=x.example; dmarc=pass header.from=example.org"), roster, dns
    )
    assert (checked.verified, checked.method) == (True, f"authentication-results {TRUSTED} dmarc")


def test_trusted_results_count_even_beside_an_untrusted_one(roster: Roster, dns: FakeDns) -> None:
    raw = delivered(mail(), "dmarc=pass header.from=example.org")
    raw = b"Authentication-Results: mx.evil.example; dkim=fail\r\n" + raw
    assert check(raw, roster, dns).method == f"authentication-results {TRUSTED} dmarc"


def test_our_own_dkim_verification(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    checked = check(delivered(signed(mail(), keys), "none"), roster, dns)
    assert (checked.verified, checked.method, checked.reasons) == (True, "dkim example.org", ())
    assert dns.asked == [b"sel._domainkey.example.org."]


def test_our_own_dkim_verification_of_lf_only_mail(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    # An MTA's pipe transport hands mail over with bare LF line endings.
    raw = delivered(signed(mail(), keys), "none").replace(b"\r\n", b"\n")
    assert check(raw, roster, dns).method == "dkim example.org"


def test_our_own_dkim_finds_the_aligned_signature_among_others(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    raw = signed(signed(mail(), keys), keys, "evil.example")  # a list or relay added its own signature on top
    assert check(delivered(raw, "none"), roster, dns).method == "dkim example.org"


def test_submitted_by_the_same_member(roster: Roster, dns: FakeDns) -> None:
    checked = check(mail(), roster, dns, submitted_by="ADA.LOVELACE@mail.example.net")
    assert (checked.verified, checked.method) == (True, "submission")
    assert dns.asked == []


def test_submitted_by_another_member_does_not_verify(roster: Roster, dns: FakeDns) -> None:
    unverified(check(mail(), roster, dns, submitted_by="bob@example.org"), "not the From address's member")


# -- the roster and alignment ------------------------------------------------------------------


def test_roster_from_settings(roster: Roster) -> None:
    ada = roster.by_address(" ADA@Example.org ")
    assert ada is not None and ada == roster.by_address("ada.lovelace@mail.example.net")
    assert (ada.name, ada.role, ada.aliases) == ("Ada Lovelace", "chair", ("Countess of Lovelace",))
    assert ada.password_hash is not None and ada.password_hash.startswith("scrypt$")
    assert "scrypt" not in repr(ada)  # a logged member does not leak the hash
    assert roster.by_address("ada@mail.example.org") is None
    assert roster.by_address("ada+x@example.org") is None
    assert roster.by_address("") is None
    assert [m.name for m in roster.chairs()] == ["Ada Lovelace"]


def test_roster_refuses_an_address_shared_by_two_members() -> None:
    members = (
        RosterMember("Ada", ("ada@example.org",), "chair", (), None),
        RosterMember("Bob", ("ADA@example.org",), "member", (), None),
    )
    with pytest.raises(ConfigError, match="also listed for Ada"):
        Roster.of(members)


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        ("example.org", "example.org", True),
        ("Example.ORG.", "example.org", True),
        ("mail.example.org", "example.org", True),
        ("example.org", "lists.mail.example.org", True),
        ("example-org.com", "example.org", False),
        ("examp1e.org", "example.org", False),
        ("xample.org", "example.org", False),
        ("example.org.evil.example", "example.org", False),
        ("org", "example.org", False),
        ("", "example.org", False),
    ],
)
def test_alignment(first: str, second: str, expected: bool) -> None:
    assert aligned(first, second) is expected


# -- trusted hops by connection (the MX hosts we name by address) ---------------------------------


def test_results_from_a_connection_that_is_not_a_trusted_relay_are_not_believed(roster: Roster, dns: FakeDns) -> None:
    # Given a member's mail with our MX's results on top, handed over by someone else's host
    raw = delivered(mail(), BOTH_PASS)

    # When it arrives over a connection from an address that is not one of trusted_relays
    result = check(raw, roster, dns, peer="198.51.100.9", settings=SETTINGS.model_copy(update={"verify_dkim": False}))

    # Then the results count for nothing: anyone who can connect could have written them
    unverified(result, "did not come from a trusted relay")


def test_without_trusted_relays_only_dkim_and_the_login_count(roster: Roster, dns: FakeDns, keys: Keys) -> None:
    settings = AuthenticationSettings(trusted_authserv_ids=[TRUSTED], verify_dkim=True)
    unverified(check(delivered(mail(), BOTH_PASS), roster, dns, settings=settings), "no trusted relay is configured")
    assert check(delivered(signed(mail(), keys), "none"), roster, dns, settings=settings).method == "dkim example.org"


def test_a_network_of_trusted_relays(roster: Roster, dns: FakeDns) -> None:
    settings = AuthenticationSettings(trusted_authserv_ids=[TRUSTED], trusted_relays=["192.0.2.0/28"])
    assert check(delivered(mail(), BOTH_PASS), roster, dns, settings=settings, peer="192.0.2.14").verified
    assert not check(delivered(mail(), BOTH_PASS), roster, dns, settings=settings, peer="192.0.2.16").verified


def test_a_pipe_from_the_local_mta_and_the_mailbox_of_an_imap_provider_are_trusted_hops(
    roster: Roster, dns: FakeDns
) -> None:
    raw = delivered(mail(), BOTH_PASS)
    for source in (InboundSource.PIPE, InboundSource.IMAP):
        checked = check_sender(read_message(raw), raw, roster, SETTINGS, arrival=Arrival(source), dnsfunc=dns)
        assert checked.verified, source


def test_our_own_received_trace_on_top_is_not_a_hop_of_the_message(roster: Roster, dns: FakeDns) -> None:
    # Given what our intake stores: its own Received line above the MX's results and Received
    trace = b"Received: from mx.example.org ([192.0.2.25]) by conduct.example.org (mailflow) with ESMTP; x\r\n"

    # Then the MX's results are still "above the first Received" of the message
    assert check(trace + delivered(mail(), BOTH_PASS), roster, dns).verified


def test_a_forged_from_line_of_our_trace_does_not_help(roster: Roster, dns: FakeDns) -> None:
    # A sender who writes a Received "by ... (mailflow)" of their own has it below ours (and the rest of
    # their headers stay below their own Received): their results are still not believed.
    fake = "Received: from x by conduct.example.org (mailflow) with ESMTP; x"
    raw = delivered(mail(top=[f"Authentication-Results: {TRUSTED}; {BOTH_PASS}", fake]), "none")
    settings = SETTINGS.model_copy(update={"verify_dkim": False})
    unverified(check(raw, roster, dns, settings=settings), "below a Received header")


# -- parties: mail in their name that our MX says fails is a forgery --------------------------------


@pytest.mark.parametrize(
    "results",
    [
        "dmarc=fail header.from=example.net",
        "spf=fail smtp.mailfrom=example.net; dkim=none",
        "spf=fail smtp.mailfrom=example.net; dkim=pass header.d=elsewhere.example",
    ],
)
def test_a_party_whose_domain_fails_authentication_is_flagged(roster: Roster, results: str) -> None:
    checked = check(delivered(mail("Jane <jane@example.net>"), results), roster)
    assert (checked.member, checked.verified, checked.failed) == (None, False, True)


@pytest.mark.parametrize(
    "results",
    [
        "dmarc=pass header.from=example.net",
        "dmarc=none header.from=example.net; spf=none",
        "spf=fail smtp.mailfrom=example.net; dkim=pass header.d=example.net",
        "dmarc=fail header.from=elsewhere.example",
    ],
)
def test_a_party_whose_domain_does_not_fail_is_not_flagged(roster: Roster, results: str) -> None:
    assert not check(delivered(mail("Jane <jane@example.net>"), results), roster).failed


def test_a_failure_reported_over_an_untrusted_connection_flags_nothing(roster: Roster) -> None:
    raw = delivered(mail("Jane <jane@example.net>"), "dmarc=fail header.from=example.net")
    assert not check(raw, roster, peer="198.51.100.9").failed
