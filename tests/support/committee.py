"""The committee at work, as the end-to-end tests drive it: members' mail as our MX hands it over,
a case opened by a report, and the means to look at what left."""

from __future__ import annotations

import email.policy
import uuid
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from mailflow.model import Case, Conversation, DiaryEntry, OutboundKind, OutboundMessage, OutboundState
from mailflow.parse.addresses import ConductAddress
from mailflow.service import Service
from tests.support.mail import header, parse, report
from tests.support.stack import CONDUCT, Stack, send

MX = "mx.committee.example"
ADA, BO, CY = "ada@committee.example", "bo@committee.example", "cy@committee.example"
REPORTER = "jane@example.net"
# The MX that hands mail over runs on this machine: its connections come from 127.0.0.1.
AUTH: dict[str, Any] = {
    "authentication": {"trusted_authserv_ids": [MX], "trusted_relays": ["127.0.0.1"], "verify_dkim": False}
}


def member_mail(
    sender: str,
    to: str,
    body: str,
    *,
    subject: str = "Re: the report",
    auth: str | None = "trusted",
    name: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    html: str | None = None,
) -> bytes:
    """A member's mail as our MX hands it over: the MX's Authentication-Results on top (``auth``:
    "trusted", "untrusted" (another authserv-id), "below" (under a Received: the sender wrote it)
    or None)."""
    domain = sender.rpartition("@")[2]
    result = f"dkim=pass header.d={domain}; dmarc=pass header.from={domain}"
    received = f"Received: from client.example ([192.0.2.7]) by {MX}; Tue, 03 Nov 2026 10:00:00 +0000"
    top: list[str] = []
    if auth == "trusted":
        top = [f"Authentication-Results: {MX}; {result}", received]
    elif auth == "untrusted":
        top = [f"Authentication-Results: mx.elsewhere.example; {result}", received]
    elif auth == "below":
        top = [received, f"Authentication-Results: {MX}; {result}"]
    else:
        top = [received]
    display = name or {ADA: "Ada Chair", BO: "Bo Member", CY: "Cy Member"}.get(sender, "Someone")
    if auth == "trusted" and not (attachments or html is not None):
        return from_our_mx(sender, report(subject, body, sender=f"{display} <{sender}>", to=to, headers=headers))
    if attachments or html is not None:
        raw = with_parts(
            f"{display} <{sender}>", to, subject, body, attachments=attachments, html=html, headers=headers
        )
    else:
        raw = report(subject, body, sender=f"{display} <{sender}>", to=to, headers=headers)
    return ("\r\n".join(top) + "\r\n").encode() + raw


def from_our_mx(sender: str, raw: bytes) -> bytes:
    """``raw`` as our MX hands it over: its Authentication-Results (DKIM and DMARC pass for the
    sender's domain) and its Received on top."""
    domain = sender.rpartition("@")[2]
    result = f"dkim=pass header.d={domain}; dmarc=pass header.from={domain}"
    received = f"Received: from client.example ([192.0.2.7]) by {MX}; Tue, 03 Nov 2026 10:00:00 +0000"
    return f"Authentication-Results: {MX}; {result}\r\n{received}\r\n".encode() + raw


def with_parts(
    sender: str,
    to: str,
    subject: str,
    body: str,
    *,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    html: str | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    """A mail with a plain body, an HTML alternative and attachments ((file name, type, bytes))."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = "Tue, 03 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<m-{uuid.uuid4().hex[:12]}@example.net>"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, ctype, data in attachments:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes(policy=email.policy.SMTP)


def addresses(stack: Stack, case: Case) -> dict[int, str]:
    conduct = ConductAddress.parse(CONDUCT)
    with stack.session() as s:
        convs = s.scalars(select(Conversation).where(Conversation.case_id == case.id)).all()
        return {c.number: conduct.case_address(case.ref, c.token) for c in convs}


def of_kind(stack: Stack, kind: OutboundKind, *, held: bool = False) -> list[OutboundMessage]:
    """The outgoing mail of a kind; without ``held``, only what may leave (held mail reaches nobody)."""
    return [o for o in stack.outbound() if o.kind is kind and (held or o.state is not OutboundState.HELD)]


def delivered_to(stack: Stack, address: str) -> list[bytes]:
    """The mails delivered with ``address`` in To or Cc."""
    return [m for m in stack.delivered() if address in header(m, "To") or address in header(m, "Cc")]


def texts_to(stack: Stack, address: str) -> str:
    """Every plain-text body delivered to ``address``, joined (the Maildir's order is not the sending order)."""
    return "\n=====\n".join(
        parse(m).get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for m in delivered_to(stack, address)
    )


def diary(stack: Stack, case: Case) -> list[DiaryEntry]:
    with stack.session() as s:
        return list(s.scalars(select(DiaryEntry).where(DiaryEntry.case_id == case.id).order_by(DiaryEntry.seq)))


def open_case(
    stack: Stack, service: Service, body: str | None = None, *, sender: str = f"Jane Reporter <{REPORTER}>"
) -> tuple[Case, dict[int, str]]:
    raw = report(sender=sender, body=body) if body else report(sender=sender)
    send(service.smtp_port, raw, sender=sender.rpartition("<")[2].rstrip(">"))
    stack.wait_idle()
    [case] = stack.cases()
    return case, addresses(stack, case)


def deliver(stack: Stack, service: Service, raw: bytes, sender: str, to: str) -> None:
    send(service.smtp_port, raw, sender=sender, to=(to,))
    stack.wait_idle()
