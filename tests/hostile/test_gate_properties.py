"""The policy gate never lets a protected person's name or address reach an outside recipient,
however the mail is encoded: plain text, quoted-printable (a soft line break inside the name),
base64, an RFC 2047 subject, HTML with tags inside the name, an attachment's text or its name.

The person has given no permission and the one outside recipient is someone else. Names and
addresses are generated (accents, capitals, lengths); each mail is built here byte by byte and
judged by ``mailflow.policy.gate.evaluate`` as it would leave.
"""

from __future__ import annotations

import base64
import quopri

from hypothesis import given
from hypothesis import strategies as st

from mailflow.policy.exposure import Identity
from mailflow.policy.gate import evaluate
from mailflow.policy.outgoing import Outgoing, Protected, Recipient

CONDUCT = "conduct@conduct.example"
MEMBER = "ada@conduct.example"
ERIC = Recipient("eric@example.com", "Eric Example")

_letters = "abcdefghijklmnoprstuvwyzéüñø"
_part = st.text(alphabet=_letters, min_size=3, max_size=9).map(str.capitalize)
_filler = st.lists(st.sampled_from(["we", "met", "on", "monday", "the", "sprint", "notes", "follow", "up"]), max_size=8)
INLINE_TAGS = ["b", "i", "em", "strong", "span", "u", "font", "a", 'span style="color:#333"', "small"]


@st.composite
def people(draw: st.DrawFn) -> tuple[str, str]:
    first, last = draw(_part), draw(_part)
    local = draw(st.sampled_from([f"{first}.{last}", f"{first[0]}{last}", f"{last}{draw(st.integers(1, 99))}"]))
    address = f"{local}@{draw(st.sampled_from(['example.org', 'mail.example.net']))}".lower()
    if not address.isascii():  # a local part as most providers allow: ASCII
        address = address.encode("ascii", "ignore").decode() or "p@example.org"
        address = address if not address.startswith("@") else "p" + address
    return f"{first} {last}", address


def _head(extra: str = "", subject: str = "Follow-up") -> bytes:
    return (
        f"From: Ada Member <{MEMBER}>\r\nTo: Eric Example <eric@example.com>\r\nCc: {CONDUCT}\r\n"
        f"Subject: {subject}\r\nMIME-Version: 1.0\r\n{extra}"
    ).encode()


def _text(words: list[str], secret: str, where: int) -> str:
    at = min(where, len(words))
    return "Hello Eric,\r\n\r\n" + " ".join([*words[:at], secret, *words[at:]]) + ".\r\n"


def plain(secret: str, text: str, _: st.DrawFn) -> bytes:
    return _head("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n") + text.encode()


def quoted_printable(secret: str, text: str, draw: st.DrawFn) -> bytes:
    body = quopri.encodestring(text.encode()).decode()
    encoded_secret = quopri.encodestring(secret.encode()).decode()
    # a soft line break inside the name, between two encoded characters (never inside an =XX escape)
    cuts = [i for i in range(1, len(encoded_secret)) if "=" not in encoded_secret[max(0, i - 2) : i]]
    cut = draw(st.sampled_from(cuts)) if cuts else len(encoded_secret)
    if encoded_secret in body and cut < len(encoded_secret):
        body = body.replace(encoded_secret, encoded_secret[:cut] + "=\r\n" + encoded_secret[cut:], 1)
    head = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    return _head(head) + body.encode()


def base64_body(secret: str, text: str, _: st.DrawFn) -> bytes:
    head = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    return _head(head) + base64.encodebytes(text.encode())


def encoded_subject(secret: str, text: str, draw: st.DrawFn) -> bytes:
    data = f"About {secret}".encode()
    if draw(st.booleans()):
        word = f"=?UTF-8?B?{base64.b64encode(data).decode()}?="
    else:
        word = "=?UTF-8?Q?" + quopri.encodestring(data, header=True).decode().replace("=\n", "") + "?="
    head = "Content-Type: text/plain; charset=utf-8\r\n\r\n"
    return _head(head, subject=word) + b"Hello Eric, can we talk on Monday?\r\n"


def html_tags_inside(secret: str, text: str, draw: st.DrawFn) -> bytes:
    cuts = sorted(set(draw(st.lists(st.integers(1, len(secret) - 1), min_size=1, max_size=4))))
    pieces, last = [], 0
    for cut in [*cuts, len(secret)]:
        pieces.append(secret[last:cut])
        last = cut
    marked = pieces[0]
    for piece in pieces[1:]:
        tag = draw(st.sampled_from(INLINE_TAGS))
        name = tag.split()[0]
        marked += f"<{tag}>{piece}</{name}>" if piece.strip() else piece
    html = "<html><body><p>" + text.replace(secret, marked).replace("\r\n", "<br>") + "</p></body></html>"
    boundary = "alt-b"
    body = (
        f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Eric, see the formatted version.\r\n"
        f"--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}\r\n--{boundary}--\r\n"
    )
    return _head(f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n') + body.encode()


def attachment_text(secret: str, text: str, _: st.DrawFn) -> bytes:
    body = (
        "--m\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello Eric, the notes are attached.\r\n"
        '--m\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Disposition: attachment; filename="notes.txt"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(text.encode()).decode() + "--m--\r\n"
    )
    return _head('Content-Type: multipart/mixed; boundary="m"\r\n\r\n') + body.encode()


def attachment_name(secret: str, text: str, _: st.DrawFn) -> bytes:
    encoded = base64.b64encode(f"Statement {secret} (signed).txt".encode()).decode()
    body = (
        "--m\r\nContent-Type: text/plain\r\n\r\nHello Eric, the statement is attached.\r\n"
        f'--m\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="=?UTF-8?B?{encoded}?="\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--m--\r\n"
    )
    return _head('Content-Type: multipart/mixed; boundary="m"\r\n\r\n') + body.encode()


ENCODINGS = [plain, quoted_printable, base64_body, encoded_subject, html_tags_inside, attachment_text, attachment_name]


@given(people(), _filler, st.integers(0, 8), st.sampled_from(ENCODINGS), st.sampled_from(["name", "address"]),
       st.sampled_from(["as is", "upper", "lower"]), st.data())  # fmt: skip
def test_the_gate_never_lets_a_protected_name_or_address_out(
    person: tuple[str, str], words: list[str], where: int, encode, what: str, case: str, data: st.DataObject
) -> None:
    name, address = person
    secret = name if what == "name" else address
    secret = {"as is": secret, "upper": secret.upper(), "lower": secret.lower()}[case]
    raw = encode(secret, _text(words, secret, where), data.draw)
    identity = Identity(label="reporter #1", names=(name,), addresses=(address,))
    outgoing = Outgoing(
        raw=raw,
        top_text="Hello Eric,\n",
        recipients=(ERIC,),
        previous=(ERIC,),
        protected=(Protected(identity, (), permitted=False),),
        insiders=frozenset({CONDUCT, MEMBER}),
    )
    decision = evaluate(outgoing)
    assert not decision.allowed, (encode.__name__, secret)
    assert "reporter-protection" in {v.rule for v in decision.violations}, (encode.__name__, secret, decision)
