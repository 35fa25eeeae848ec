"""Members sending through the submission listener straight to outside parties, and members who
write directly with the conduct address in Cc: the policy gate decides, at SMTP time or after the
fact. Real sockets: the service's intake and submission listeners, smtplib with STARTTLS and AUTH."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest

from mailflow.auth import hash_password
from mailflow.case import service as cases
from mailflow.model import DiaryKind, OutboundKind
from mailflow.service import Service
from tests.support.committee import (
    ADA,
    AUTH,
    BO,
    CY,
    REPORTER,
    deliver,
    delivered_to,
    diary,
    member_mail,
    of_kind,
    open_case,
    texts_to,
)
from tests.support.mail import report
from tests.support.stack import CONDUCT, ROSTER, Stack
from tests.support.tls import ServerTls

PASSWORD = "analytical engine"
ERIC = "eric@example.com"


def _settings(stack: Stack, tls: ServerTls) -> Any:
    hashed = hash_password(PASSWORD)
    members = [{**m, "password_hash": hashed} for m in ROSTER]
    return stack.settings(
        **AUTH,
        committee={"members": members},
        submission={"listen": "127.0.0.1:0", "tls_certificate": str(tls.certificate), "tls_key": str(tls.key)},
    )


def submit(service: Service, tls: ServerTls, raw: bytes, sender: str, to: list[str]) -> None:
    assert service.submission is not None and service.submission.port
    with smtplib.SMTP("127.0.0.1", service.submission.port, timeout=60) as client:
        client.starttls(context=tls.client_context())
        client.login(sender, PASSWORD)
        client.sendmail(sender, to, raw)


def direct(sender: str, to: str, subject: str, body: str, cc: str | None = None) -> bytes:
    headers = {"Cc": cc} if cc else None
    name = {ADA: "Ada Chair", BO: "Bo Member", CY: "Cy Member"}[sender]
    return report(subject, body, sender=f"{name} <{sender}>", to=f"Eric Example <{to}>", headers=headers)


def test_a_member_writes_to_an_outside_party_through_the_submission_listener(
    sqlite_stack: Stack, server_tls: ServerTls
) -> None:
    stack = sqlite_stack
    service = stack.start(_settings(stack, server_tls))
    case, _ = open_case(stack, service)
    subject = f"[conduct #{case.ref}] A conversation about the meetup"

    # When Ada writes to Eric from her own client, through the submission listener
    submit(
        service, server_tls, direct(ADA, ERIC, subject, "Hello Eric,\n\nwe would like to hear from you.\n"), ADA, [ERIC]
    )
    stack.wait_idle()

    # Then Eric gets it in the committee's name, in a conversation of his own
    [relayed] = of_kind(stack, OutboundKind.RELAY)
    assert relayed.recipients == [ERIC]
    [mail] = delivered_to(stack, ERIC)
    assert CONDUCT in mail.decode().split("\r\n\r\n")[0] and ADA not in mail.decode()
    assert "we would like to hear from you" in mail.decode()

    # When she then names the reporter to him
    leak = direct(ADA, ERIC, "Re: " + subject, "Eric, Jane Reporter says you were rude.\n")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(service, server_tls, leak, ADA, [ERIC])
    stack.wait_idle()

    # Then her client shows the 550 with the rule, the offending text and the fix; Eric gets nothing
    code, said = refused.value.smtp_code, refused.value.smtp_error.decode()
    assert code == 550 and "5.7.1" in said
    assert "reporter" in said and "Jane Reporter" in said and "/permission" in said
    assert len(delivered_to(stack, ERIC)) == 1
    assert [e for e in diary(stack, case) if e.kind is DiaryKind.HELD]


def test_a_direct_mail_with_the_conduct_address_in_cc_is_checked_after_the_fact(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, addr = open_case(stack, service)
    subject = f"[conduct #{case.ref}] About the meetup"

    # When Bo writes to Eric from his own provider, naming the reporter, with conduct@ in Cc
    raw = member_mail(BO, f"Eric Example <{ERIC}>", "Eric, Jane Reporter told us everything.\n", subject=subject,
                      headers={"Cc": CONDUCT})  # fmt: skip
    deliver(stack, service, raw, BO, CONDUCT)

    # Then nothing is relayed (it has left already), and the chair is told what broke which rule
    assert not of_kind(stack, OutboundKind.RELAY)
    assert not delivered_to(stack, ERIC)
    told = texts_to(stack, ADA)
    assert "Bo Member wrote directly to outside parties" in told and "Jane Reporter" in told
    assert any(e.detail.get("note") == "direct mail" and e.detail.get("violation") for e in diary(stack, case))
    # and the copy reaches the other members as case mail
    assert "told us everything" in texts_to(stack, CY)
    assert addr[cases.TEAM]


def test_a_clean_direct_mail_is_only_recorded(sqlite_stack: Stack) -> None:
    stack = sqlite_stack
    service = stack.start(stack.settings(**AUTH))
    case, _ = open_case(stack, service)
    raw = member_mail(BO, f"Eric Example <{ERIC}>", "Eric, could we talk this week?\n",
                      subject=f"[conduct #{case.ref}] A call", headers={"Cc": CONDUCT})  # fmt: skip
    deliver(stack, service, raw, BO, CONDUCT)
    assert not any(e.detail.get("violation") for e in diary(stack, case))
    assert "could we talk this week" in texts_to(stack, CY)
    assert REPORTER not in [r for o in of_kind(stack, OutboundKind.FANOUT) for r in o.recipients]
