"""Properties of the inbound path on hostile input: parse, classify, reply text, the sender check
and the gate's reading never raise anything but ParseFailure, their output is bounded by their
input, and they are deterministic (the same bytes, the same reading) and idempotent where a
normalisation should be.

Inputs come from ``tests.hostile.strategies``: generated header fields and MIME trees, byte-level
mutations of well-formed seeds, and garbage. The real functions run; nothing is mocked.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from mailflow.auth.roster import Roster, RosterMember
from mailflow.auth.sender import Arrival, check_sender
from mailflow.config import AuthenticationSettings
from mailflow.errors import ParseFailure
from mailflow.mime.headers import flatten_address_field, mailboxes, one_line
from mailflow.mime.surfaces import read_surfaces
from mailflow.model import InboundSource
from mailflow.parse.classify import classify
from mailflow.parse.message import ParsedMessage, normalize_address, parse_message
from mailflow.parse.reply import reply_text
from mailflow.parse.subject import strip_prefixes
from mailflow.policy.outgoing import visible_header_names
from tests.hostile.strategies import SEEDS, header_values, raw_messages

ROSTER = Roster.of(
    (RosterMember(name="Ada Chair", addresses=("ada@committee.example",), role="chair"),
     RosterMember(name="Bo Member", addresses=("bo@committee.example",), role="member"))
)  # fmt: skip
AUTH = AuthenticationSettings(trusted_authserv_ids=["mx.example.org"], trusted_relays=["127.0.0.1"])
ARRIVALS = (Arrival(InboundSource.SMTP, "127.0.0.1"), Arrival(InboundSource.PIPE), Arrival(InboundSource.SMTP, "x"))


def no_dns(name: bytes) -> bytes | None:
    """No DNS in the suite: every DKIM key lookup finds nothing."""
    return None


def parsed(raw: bytes) -> ParsedMessage | None:
    try:
        return parse_message(raw)
    except ParseFailure:
        return None


@given(raw_messages)
@example(SEEDS[0])
@example(b"From: x " + b"(" * 3000 + b")" * 3000 + b" <y@example.net>\r\nTo: conduct@example.org\r\n\r\nhi\r\n")
@example("From: Jö <jö@exämple.net>\r\nSubject: ü\r\n\r\nhi\r\n".encode())
def test_the_inbound_path_never_raises_and_is_bounded(raw: bytes) -> None:
    message = parsed(raw)
    if message is None:
        return
    # bounded: decoding never makes more text than the bytes could hold (plus a little framing)
    assert len(message.subject) <= len(raw)
    assert len(message.text) + len(message.html or "") <= 2 * len(raw) + 64
    assert len(message.attachments) <= len(raw)
    assert all(len(mid) <= 998 for mid in (*message.in_reply_to, *message.references))
    kind = classify(message, envelope_from="someone@example.net")
    assert kind.reasons is not None and len(kind.failed_recipients) <= 1000
    reply = reply_text(message)
    assert len(reply) <= len(message.text) + len(message.html or "") + 64
    for arrival in ARRIVALS:
        checked = check_sender(message.tree, raw, ROSTER, AUTH, arrival=arrival, dnsfunc=no_dns)  # type: ignore[arg-type]
        assert not any("could not be checked" in why for why in checked.reasons), checked.reasons
    assert message.tree is not None
    seen = read_surfaces(message.tree, visible_header_names(message.tree))
    assert sum(len(s.text) for s in seen.surfaces) <= 64 * len(raw) + 4096


@given(raw_messages)
def test_the_same_bytes_read_the_same(raw: bytes) -> None:
    first, second = parsed(raw), parsed(raw)
    assert first == second
    if first is None or second is None:
        return
    assert classify(first, envelope_from=None) == classify(second, envelope_from=None)
    assert reply_text(first) == reply_text(second)


@given(header_values)
def test_header_normalisations_are_idempotent(value: str) -> None:
    flat = flatten_address_field(value)
    assert flatten_address_field(flat) == flat
    assert len(flat) <= len(value)
    assert one_line(one_line(value)) == one_line(value)
    assert strip_prefixes(strip_prefixes(value)) == strip_prefixes(value)
    for box in mailboxes([value]):
        assert normalize_address(box.address) == box.address
        assert mailboxes([box.address]) == (type(box)("", box.address),)


@given(st.text(max_size=200))
def test_address_fields_never_raise(value: str) -> None:
    mailboxes([value, value[::-1]])
