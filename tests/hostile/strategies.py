"""Hypothesis strategies for hostile mail: header fields built to break parsers, MIME structures
in every transfer encoding, RFC 6532 (UTF-8) headers, 8-bit garbage, and byte-level mutations of
a few well-formed seeds (a report, a multipart with HTML and an attachment, a forwarded message,
a bounce, an internationalised message).
"""

from __future__ import annotations

import base64
import quopri
import string

from hypothesis import strategies as st

NAMES = [
    "From", "To", "Cc", "Bcc", "Reply-To", "Sender", "Subject", "Message-ID", "In-Reply-To", "References",
    "Date", "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Received",
    "Return-Path", "Authentication-Results", "DKIM-Signature", "Auto-Submitted", "Precedence", "List-Id",
    "X-Autoreply", "Resent-From", "Disposition-Notification-To", "X-Mailer",
]  # fmt: skip

_ascii_word = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=10)
_any_word = st.text(min_size=1, max_size=10)
_local = st.one_of(_ascii_word, st.text(min_size=1, max_size=8))  # RFC 6532: UTF-8 local parts too
_domain = st.builds(lambda a, b: f"{a}.{b}", st.one_of(_ascii_word, st.text(min_size=1, max_size=8)), _ascii_word)
addresses = st.builds(lambda local, domain: f"{local}@{domain}", _local, _domain)


def _encoded_word(text: str, b: bool) -> str:
    data = text.encode("utf-8")
    if b:
        return f"=?utf-8?b?{base64.b64encode(data).decode()}?="
    return "=?utf-8?q?" + quopri.encodestring(data, header=True).decode().replace("=\n", "") + "?="


encoded_words = st.builds(_encoded_word, st.text(max_size=20), st.booleans())
_depth = st.integers(min_value=1, max_value=1500)
nasty = st.one_of(
    st.builds(lambda n: "(" * n + "x" + ")" * n, _depth),  # nested comments
    st.builds(lambda n: "g:" * n + "a@b.c" + ";" * n, _depth),  # nested groups
    st.builds(lambda n: "<" * n + "a@b.c" + ">" * n, _depth),
    st.builds(lambda n: '"' + "\\" * n + '"', _depth),
    st.builds(lambda n: "=?" * n, _depth),
    st.builds(lambda n: "<a@b>" * n, st.integers(1, 300)),
    st.just("=?utf-8?q?=ZZ=?="),
    st.just("=?unknown-8bit?b?////?="),
    st.just('multipart/mixed; boundary=""'),
    st.just("text/plain; charset=utf-7"),
    st.just("text/plain; charset=\x00"),
    st.just("text/plain; charset*=utf-8''x"),
    st.just("text/plain; charset*=u\x00''x"),
    st.just("message/rfc822"),
    st.just("base64"),
    st.just("quoted-printable"),
    st.just("x-uuencode"),
)
mailbox_values = st.one_of(
    addresses,
    st.builds(lambda n, a: f"{n} <{a}>", st.one_of(st.text(max_size=15), encoded_words), addresses),
    st.builds(lambda n, a: f'"{n}" <{a}>', st.text(max_size=15), addresses),
    st.builds(lambda a, c: f"{a} ({c})", addresses, st.text(max_size=15)),
    st.builds(lambda g, a: f"{g}: {a};", _ascii_word, addresses),
)
header_values = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=string.printable, max_size=60),
    mailbox_values,
    encoded_words,
    nasty,
    st.builds(lambda a, b: f"<{a}@{b}>", _any_word, _any_word),
)


def _line(name: str, value: str | bytes) -> bytes:
    data = value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")
    return name.encode("ascii") + b": " + data


header_fields = st.lists(
    st.tuples(st.sampled_from(NAMES), st.one_of(header_values, st.binary(max_size=40))), max_size=10
).map(lambda fields: [_line(name, value) for name, value in fields])


def _leaf(content_type: str, encoding: str, payload: bytes, filename: str | None) -> list[bytes]:
    if encoding == "base64":
        body = base64.encodebytes(payload)
    elif encoding == "quoted-printable":
        body = quopri.encodestring(payload)
    else:
        body = payload
    head = [f"Content-Type: {content_type}".encode(), f"Content-Transfer-Encoding: {encoding}".encode()]
    if filename is not None:
        head.append(b'Content-Disposition: attachment; filename="' + filename.encode("utf-8", "replace") + b'"')
    return [*head, b"", body]


_payloads = st.one_of(st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass")), st.binary(max_size=300))
_content_types = st.sampled_from(
    ["text/plain", "text/plain; charset=utf-8", "text/plain; charset=iso-8859-1", "text/html",
     "text/html; charset=utf-8", "application/octet-stream", "application/pdf", "text/calendar", "message/rfc822",
     "image/png", "text/rtf", "text/plain; charset=bogus", "application/zip", "text/plain; charset=u\x00"]
)  # fmt: skip
leaves = st.builds(
    _leaf,
    _content_types,
    st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "binary", "bogus"]),
    _payloads,
    st.one_of(st.none(), st.text(max_size=20)),
)


@st.composite
def bodies(draw: st.DrawFn, depth: int = 0) -> list[bytes]:
    """The lines of a MIME entity (its own header fields, a blank line, its body)."""
    if depth >= 3 or draw(st.booleans()):
        return draw(leaves)
    boundary = draw(st.sampled_from(["b1", "=_x", "boundary with space", "", "b1"]))
    kind = draw(st.sampled_from(["mixed", "alternative", "related", "report", "digest"]))
    children = draw(st.lists(bodies(depth + 1), max_size=4))
    lines = [f'Content-Type: multipart/{kind}; boundary="{boundary}"'.encode(), b""]
    if draw(st.booleans()):
        lines.append(draw(st.binary(max_size=30)))  # a preamble
    for child in children:
        lines += [b"--" + boundary.encode(), *child]
    if draw(st.booleans()):
        lines.append(b"--" + boundary.encode() + b"--")
    return lines


@st.composite
def built_messages(draw: st.DrawFn) -> bytes:
    """A message from generated header fields and a generated MIME body."""
    fields = draw(header_fields)
    if draw(st.booleans()):
        fields = [b"From: " + draw(mailbox_values).encode("utf-8", "surrogatepass"), *fields]
    body = draw(bodies())
    newline = draw(st.sampled_from([b"\r\n", b"\n"]))
    return newline.join([*fields, b"MIME-Version: 1.0", *body])


SEEDS: list[bytes] = [
    b"From: Jane Reporter <jane@example.net>\r\nTo: conduct@example.org\r\nSubject: Report\r\n"
    b"Message-ID: <seed1@example.net>\r\nDate: Tue, 03 Nov 2026 10:00:00 +0000\r\n\r\n"
    b"On Tuesday someone kept messaging me.\r\n\r\n-- \r\nJane\r\n",
    b"From: ada@committee.example\r\nTo: conduct+2026-0001.abcdefghij@example.org\r\n"
    b"Subject: Re: [conduct #2026-0001] x\r\n"
    b"In-Reply-To: <seed1@example.net>\r\nReferences: <seed0@example.net> <seed1@example.net>\r\n"
    b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b1"\r\n\r\n--b1\r\n'
    b'Content-Type: multipart/alternative; boundary="b2"\r\n\r\n--b2\r\nContent-Type: text/plain; charset=utf-8\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n/lead Ada\r\nThanks =E2=80=93 noted.\r\n\r\n"
    b"On Mon, Jane wrote:\r\n> hello\r\n--b2\r\nContent-Type: text/html\r\n\r\n<p>Thanks <b>noted</b></p>\r\n--b2--\r\n"
    b'--b1\r\nContent-Type: application/pdf; name="a.pdf"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    b"JVBERi0xLjQKJcfs\r\n--b1--\r\n",
    b"From: bob@example.com\r\nTo: conduct@example.org\r\nSubject: Fwd: incident\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="f"\r\n\r\n--f\r\nContent-Type: text/plain\r\n\r\nsee below\r\n'
    b"--f\r\nContent-Type: message/rfc822\r\n\r\nFrom: Jane <jane@example.net>\r\nSubject: incident\r\n\r\n"
    b"It happened at the sprint.\r\n--f--\r\n",
    b"From: MAILER-DAEMON@mx.example.org\r\nTo: conduct+bounce.abcdefgh@example.org\r\nSubject: Undelivered Mail\r\n"
    b"Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="r"\r\n\r\n--r\r\n'
    b"Content-Type: text/plain\r\n\r\nDelivery failed.\r\n--r\r\nContent-Type: message/delivery-status\r\n\r\n"
    b"Reporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; eric@example.com\r\nAction: failed\r\n"
    b"Status: 5.1.1\r\n--r--\r\n",
    "From: Jöran Ünal <jöran@exämple.net>\r\nTo: conduct@example.org\r\nSubject: Bericht über den Vorfall\r\n"
    "Message-ID: <sëed5@exämple.net>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n\r\nEs geschah am Dienstag.\r\n".encode(),
]


@st.composite
def mutated_seeds(draw: st.DrawFn) -> bytes:
    """A seed with a few bytes deleted, replaced or inserted (what a fuzzer does, in small steps)."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "repeat"]))
        chunk = draw(st.one_of(st.binary(min_size=1, max_size=8), st.sampled_from(
            [b"\r\n", b"\n\n", b":", b"=?", b"?=", b"--", b"--b1", b"(", b"<", b">", b'"', b"\\", b";", b"\xc3",
             b"\xff", b"\x00", "ü".encode(), b"Content-Type: multipart/mixed; boundary=b1\r\n"]
        )))  # fmt: skip
        if op == "insert":
            data[at:at] = chunk
        elif op == "delete":
            del data[at : at + len(chunk)]
        elif op == "replace":
            data[at : at + len(chunk)] = chunk
        else:
            data[at:at] = chunk * draw(st.integers(2, 400))
    return bytes(data)


raw_messages = st.one_of(built_messages(), mutated_seeds(), st.binary(max_size=400))
"""Anything that can arrive: built messages, mutated seeds, and plain garbage."""
