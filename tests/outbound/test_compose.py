"""Composed mail reads back, through the standard library's strict parser, as what was drafted."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime

import pytest

from mailflow.outbound.compose import Draft, compose
from mailflow.parse.message import Address

WHEN = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def _read(raw: bytes) -> email.message.EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.strict)
    assert not message.defects
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    assert b"\n" not in raw.replace(b"\r\n", b"")  # CRLF only, as on the wire
    return message  # type: ignore[return-value]


def _text(part: email.message.EmailMessage) -> str:
    return str(part.get_content()).replace("\r\n", "\n")


def _draft(**overrides: object) -> Draft:
    base: dict[str, object] = {
        "from_name": "Example CoC Committee",
        "from_addr": "conduct@example.org",
        "to": (Address("Jane Reporter", "jane@example.net"),),
        "subject": "[conduct #2026-0001] We received your report",
        "text": "Dear Jane,\n\nThank you.\n",
        "reply_to": "conduct+2026-0001.abcdefghij@example.org",
        "in_reply_to": "report-1@example.net",
        "references": ("earlier@example.net", "report-1@example.net"),
        "auto_submitted": "auto-replied",
    }
    base.update(overrides)
    return Draft(**base)  # type: ignore[arg-type]


def test_a_plain_ascii_notice() -> None:
    message = _read(compose(_draft(), "mf.1@example.org", WHEN))
    assert message["From"].addresses[0].display_name == "Example CoC Committee"
    assert message["To"].addresses[0].addr_spec == "jane@example.net"
    assert message["Reply-To"].addresses[0].addr_spec == "conduct+2026-0001.abcdefghij@example.org"
    assert message["Subject"] == "[conduct #2026-0001] We received your report"
    assert message["Message-ID"] == "<mf.1@example.org>"
    assert message["In-Reply-To"] == "<report-1@example.net>"
    assert message["References"] == "<earlier@example.net> <report-1@example.net>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["Date"].datetime == WHEN
    assert message.get_content_type() == "text/plain"
    assert _text(message) == "Dear Jane,\n\nThank you.\n"


@pytest.mark.parametrize(
    ("name", "subject", "text"),
    [
        ("José Müller-Łukasiewicz", "Réponse: ваш отчёт получен", "Grüße,\nDas Komitee — 日本語も\n"),
        ('Doe, "Jane"', "x" * 300, "a line " * 400 + "\n"),
        ("山田 太郎", "[conduct #2026-0001] " + "long subject words " * 12, "tabs\tand trailing spaces   \n"),
    ],
    ids=["non-ascii", "quoting-and-long", "cjk-and-folding"],
)
def test_names_subjects_and_bodies_survive_encoding(name: str, subject: str, text: str) -> None:
    raw = compose(_draft(to=(Address(name, "jane@example.net"),), subject=subject, text=text), "mf.2@example.org", WHEN)
    message = _read(raw)
    assert message["To"].addresses[0].display_name == name
    assert message["Subject"] == " ".join(subject.split())  # whitespace runs fold to one space
    assert _text(message).rstrip("\n") == text.rstrip("\n")


def test_a_notice_with_an_html_alternative() -> None:
    raw = compose(_draft(html="<p>Dear Jane,</p><p>Thank you &amp; goodbye.</p>"), "mf.3@example.org", WHEN)
    message = _read(raw)
    assert message.get_content_type() == "multipart/alternative"
    assert _text(message.get_body(("plain",))).startswith("Dear Jane,")  # type: ignore[arg-type]
    assert "&amp;" in message.get_body(("html",)).get_content()  # type: ignore[union-attr]


def test_header_values_cannot_smuggle_headers() -> None:
    raw = compose(_draft(subject="hello\r\nBcc: everyone@example.com", headers=(("X-Case", "a\nb"),)), "m@x.org", WHEN)
    message = _read(raw)
    assert message["Bcc"] is None and message["Subject"] == "hello Bcc: everyone@example.com"
    assert message["X-Case"] == "a b"
