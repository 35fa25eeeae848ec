"""The inbound path as one function of the bytes that arrived: what the fuzzer (``make fuzz``,
benchmarks/fuzz_inbound.py) drives and what every crash it found replays as a test
(``tests/hostile/crashes/``, test_regressions.py).

It raises only on a bug: ParseFailure (a message that is not one) is the expected refusal.
The sender check is called below its last line of defence (which logs and carries on), so that
an exception inside it is seen here.
"""

from __future__ import annotations

from mailflow.auth.roster import Roster, RosterMember
from mailflow.auth.sender import Arrival, _check
from mailflow.config import AuthenticationSettings
from mailflow.errors import ParseFailure
from mailflow.mime.surfaces import read_surfaces
from mailflow.model.types import InboundSource
from mailflow.parse.classify import classify
from mailflow.parse.message import parse_message
from mailflow.parse.reply import reply_text
from mailflow.policy.exposure import Identity
from mailflow.policy.gate import evaluate
from mailflow.policy.outgoing import Outgoing, Protected, Recipient, visible_header_names

ROSTER = Roster.of(
    (RosterMember(name="Ada Chair", addresses=("ada@committee.example",), role="chair"),
     RosterMember(name="Bo Member", addresses=("bo@committee.example",), role="member"))
)  # fmt: skip
AUTH = AuthenticationSettings(trusted_authserv_ids=["mx.example.org"], trusted_relays=["127.0.0.1"])
ARRIVAL = Arrival(InboundSource.SMTP, "127.0.0.1")
PROTECTED = (
    Protected(
        Identity("reporter #1", names=("Jane Doe", "Doe, Jane"), addresses=("jane@example.net",), aliases=("@janed",)),
        (("report", "At the sprint on Saturday he kept interrupting me and made comments about my accent."),),
    ),
)
ERIC = Recipient("eric@example.com", "Eric Example")


def no_dns(name: bytes) -> bytes | None:
    return None


def read_inbound(data: bytes) -> None:
    """Parse, classify, extract the reply, check the sender, read every surface, and judge the
    bytes as an outgoing relay with the policy gate."""
    try:
        message = parse_message(data)
    except ParseFailure:
        return
    classify(message, envelope_from="someone@example.net")
    reply_text(message)
    assert message.tree is not None
    _check(message.tree, data, ROSTER, AUTH, ARRIVAL, no_dns)
    read_surfaces(message.tree, visible_header_names(message.tree))
    outgoing = Outgoing(
        raw=data,
        top_text=message.text[:2000],
        recipients=(ERIC,),
        previous=(ERIC,),
        protected=PROTECTED,
        insiders=frozenset({"conduct@example.org", "ada@committee.example"}),
    )
    evaluate(outgoing)
