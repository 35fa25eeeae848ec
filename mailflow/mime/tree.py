"""Raw bytes -> MessageTree: every MIME part once, typed, with its decoded headers and payload.

The standard library's parser (compat32, the most forgiving; flufl.bounce reads the same object)
splits the message; this module turns its result into frozen values: each part with its decoded
header fields, content type, disposition, file name (RFC 2231 and 2047), transfer-decoded bytes
and their SHA-256, and the children of a multipart or the message inside a ``message/*`` part.

Work is bounded by a :class:`~mailflow.mime.reading.Budget`: MIME nesting, number of parts, header
fields and encoded words are capped. What is over a cap is not read further and says so in
``unread`` (the policy gate holds outgoing mail it has not read to the end). Reading never raises.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email import policy as email_policy
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value

from mailflow.mime.headers import Header, Mailbox, b64decode, decode_words, mailboxes, one_line, unsurrogate
from mailflow.mime.reading import Budget, Unread

__all__ = ["MessageTree", "Part", "payload_of", "read_message"]

_EMPTY_SHA = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True, slots=True)
class Part:
    path: str
    """Where the part sits, as IMAP numbers sections: "" the message itself, "1", "1.2", ..."""
    content_type: str
    """Lowercased ``type/subtype`` (``text/plain`` when absent or unreadable, as RFC 2045 says)."""
    headers: tuple[Header, ...]
    charset: str | None = None
    disposition: str | None = None
    """"attachment", "inline", or None when the part does not say."""
    filename: str | None = None
    """Decoded: the ``filename`` parameter, else ``name``."""
    names: tuple[str, ...] = ()
    """Every name the part gives itself (both parameters; the raw field when neither parses)."""
    description: str | None = None
    content_id: str | None = None
    transfer_encoding: str = ""
    data: bytes = b""
    """The payload after transfer decoding (leaves only), bytes exactly as sent."""
    children: tuple[Part, ...] = ()
    attached: MessageTree | None = None
    """The message inside a ``message/rfc822`` (or ``message/global``, ``message/news``) part."""
    preamble: str | None = None
    epilogue: str | None = None
    unread: tuple[Unread, ...] = ()
    source: Message | None = field(default=None, compare=False, repr=False)
    """The standard library's object for this part (for code that reads it, such as flufl.bounce)."""

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    @property
    def subtype(self) -> str:
        return self.content_type.partition("/")[2]

    @property
    def is_multipart(self) -> bool:
        return self.maintype == "multipart" and bool(self.children or self.preamble is not None)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest() if self.data else _EMPTY_SHA

    def header(self, name: str) -> str:
        key = name.lower()
        return next((h.value for h in self.headers if h.key == key), "")

    def param(self, name: str) -> str:
        """A Content-Type parameter, decoded (RFC 2231), or ''."""
        if self.source is None:
            return ""
        try:
            value = self.source.get_param(name, header="content-type")
        except Exception:  # a parameter the stdlib cannot parse
            return ""
        if isinstance(value, tuple):
            value = _collapse(value)
        return str(value or "").strip().strip('"')


@dataclass(frozen=True, slots=True)
class MessageTree:
    root: Part
    unread: tuple[Unread, ...] = ()
    """What could not be read of the message as a whole (its parts carry their own)."""

    @property
    def headers(self) -> tuple[Header, ...]:
        return self.root.headers

    @property
    def source(self) -> Message | None:
        return self.root.source

    def header(self, name: str) -> str:
        """The first value of a header field, decoded, or ''."""
        return self.root.header(name)

    def header_all(self, name: str) -> tuple[str, ...]:
        key = name.lower()
        return tuple(h.value for h in self.headers if h.key == key)

    def raw_header_all(self, name: str) -> tuple[str, ...]:
        key = name.lower()
        return tuple(h.raw for h in self.headers if h.key == key)

    def addresses(self, name: str) -> tuple[Mailbox, ...]:
        return mailboxes(self.raw_header_all(name))

    def walk(self, *, into_attached: bool = True) -> Iterator[Part]:
        """Every part, depth first in message order; with ``into_attached`` also the parts of
        attached messages (after the ``message/*`` part that holds them)."""
        stack = [self.root]
        while stack:
            part = stack.pop()
            yield part
            inner = [part.attached.root] if into_attached and part.attached is not None else []
            stack.extend(reversed([*part.children, *inner]))

    def all_unread(self) -> tuple[Unread, ...]:
        """The message's own unread marks and every part's, attached messages included."""
        found = list(self.unread)
        for part in self.walk():
            found.extend(part.unread)
            if part.attached is not None:
                found.extend(part.attached.unread)
        return tuple(found)


def read_message(raw: bytes, budget: Budget | None = None, *, depth: int = 0) -> MessageTree:
    """The part tree of ``raw``. Never raises: what cannot be read is in ``unread``."""
    budget = budget or Budget()
    data = _headers_first(raw)
    try:
        message = BytesParser(policy=email_policy.compat32).parsebytes(data)
    except RecursionError:
        return _unreadable("the MIME structure is nested too deeply to read")
    except Exception as exc:  # the stdlib parser is forgiving; this is a bug of ours or of it
        return _unreadable(f"the message could not be split into parts ({type(exc).__name__})")
    reader = _Reader(budget, depth)
    try:
        root = reader.part(message, "", 0)
    except RecursionError:
        return _unreadable("the MIME structure is nested too deeply to read")
    return MessageTree(root, tuple(reader.unread))


def _unreadable(reason: str) -> MessageTree:
    return MessageTree(Part("", "text/plain", ()), (Unread("the message", reason),))


def _headers_first(raw: bytes) -> bytes:
    """Drop a leading byte-order mark and blank lines, which would otherwise read as "no headers".
    Only the parser sees this copy; the stored bytes stay as they came."""
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0
    while start < len(raw) and raw[start : start + 1] in (b"\r", b"\n", b" ", b"\t"):
        start += 1
    return raw[start:] if start else raw


class _Reader:
    def __init__(self, budget: Budget, depth: int) -> None:
        self.budget = budget
        self.depth = depth
        self.unread: list[Unread] = []

    def part(self, msg: Message, path: str, mime_depth: int) -> Part:
        where = f"part {path}" if path else "the message"
        unread: list[Unread] = []
        headers = self.headers(msg, unread, where)
        ctype = _content_type(msg)
        filename, names = _names(msg, self.budget)
        base = Part(
            path=path,
            content_type=ctype,
            headers=headers,
            charset=_charset(msg),
            disposition=_disposition(msg),
            filename=filename,
            names=names,
            description=_field(msg, "content-description", self.budget),
            content_id=_field(msg, "content-id", self.budget),
            transfer_encoding=str(msg.get("content-transfer-encoding", "")).strip().lower(),
            source=msg,
        )
        payload = payload_of(msg)
        if isinstance(payload, list):
            if mime_depth >= self.budget.limits.max_mime_depth:
                unread.append(Unread(where, "MIME parts nested too deeply: the rest was not read"))
                return replace(base, unread=tuple(unread))
            if ctype.startswith("message/"):
                inner = next((p for p in payload if isinstance(p, Message)), None)
                if inner is not None and base.transfer_encoding in ("base64", "quoted-printable"):
                    # A message/* part must not be encoded (RFC 2046), but some are: the parser then
                    # read the encoded text as a message. Decode it and read the message inside.
                    encoded = str(payload_of(inner)) if not inner.keys() else inner.as_string()
                    data = _decoded(encoded, base.transfer_encoding)
                    attached = self.attached_bytes(data, unread, where)
                    return replace(base, data=data, attached=attached, unread=tuple(unread))
                attached = self.attached(inner, path, mime_depth, unread, where) if inner is not None else None
                return replace(base, attached=attached, unread=tuple(unread))
            children = []
            for number, sub in enumerate(payload, 1):
                if not isinstance(sub, Message):
                    continue
                if not self.budget.part():
                    unread.append(Unread(where, "more MIME parts than the limit: the rest was not read"))
                    break
                children.append(self.part(sub, f"{path}.{number}" if path else str(number), mime_depth + 1))
            return replace(
                base,
                children=tuple(children),
                preamble=unsurrogate(msg.preamble) if msg.preamble else None,
                epilogue=unsurrogate(msg.epilogue) if msg.epilogue else None,
                unread=tuple(unread),
            )
        if ctype.startswith("multipart/"):  # no boundary was found: its body is one text, as sent
            return replace(base, data=_raw_bytes(payload), unread=tuple(unread))
        data = _payload_bytes(msg, unread, where)
        attached = None
        if ctype.startswith("message/") and ctype != "message/delivery-status" and data.strip():
            attached = self.attached_bytes(data, unread, where)
        return replace(base, data=data, attached=attached, unread=tuple(unread))

    def headers(self, msg: Message, unread: list[Unread], where: str) -> tuple[Header, ...]:
        items = msg.raw_items() if hasattr(msg, "raw_items") else msg.items()
        found = []
        for count, (name, value) in enumerate(items):
            if count >= self.budget.limits.max_headers:
                unread.append(Unread(where, "more header fields than the limit: the rest were not read"))
                break
            raw = _FOLDS.sub(" ", unsurrogate(str(value)))
            found.append(Header(str(name), one_line(raw), one_line(decode_words(raw, self.budget))))
        return tuple(found)

    def attached(
        self, inner: Message, path: str, mime_depth: int, unread: list[Unread], where: str
    ) -> MessageTree | None:
        if not self.budget.deeper(self.depth + 1):
            unread.append(Unread(where, "messages nested too deeply: the attached message was not read"))
            return None
        reader = _Reader(self.budget, self.depth + 1)
        root = reader.part(inner, f"{path}.1" if path else "1", mime_depth + 1)
        return MessageTree(root, tuple(reader.unread))

    def attached_bytes(self, data: bytes, unread: list[Unread], where: str) -> MessageTree | None:
        """A ``message/*`` part the parser left as bytes (base64-encoded, say): read it as a message."""
        if not self.budget.deeper(self.depth + 1):
            unread.append(Unread(where, "messages nested too deeply: the attached message was not read"))
            return None
        return read_message(data, self.budget, depth=self.depth + 1)


_FOLDS = re.compile(r"\r?\n[ \t]*")


def payload_of(msg: Message) -> object:
    """``msg.get_payload()`` (the parts of a multipart, else the body as text), also where the
    standard library fails on it: a body with 8-bit bytes is re-decoded with the declared charset,
    and a charset name the codec machinery rejects other than as unknown (one with a NUL in it:
    ValueError), or an RFC 2231 ``charset*=`` parameter (a tuple: TypeError), raises there. Then the
    body as the parser stored it (8-bit bytes as surrogates)."""
    try:
        return msg.get_payload()
    except (ValueError, TypeError):
        return msg._payload  # type: ignore[attr-defined]  # the parser's own value, as get_payload starts from


def _content_type(msg: Message) -> str:
    try:
        return msg.get_content_type().lower()
    except Exception:
        return "text/plain"


def _charset(msg: Message) -> str | None:
    try:
        charset = msg.get_content_charset()
    except Exception:
        return None
    return str(charset) if charset else None


def _disposition(msg: Message) -> str | None:
    value = str(msg.get("content-disposition", "") or "").strip()
    token = value.split(";", 1)[0].strip().lower()
    return token or None


def _field(msg: Message, name: str, budget: Budget) -> str | None:
    value = msg.get(name)
    return one_line(decode_words(str(value), budget)) or None if value is not None else None


def _collapse(value: tuple[str | None, str | None, str]) -> str:
    try:
        return str(collapse_rfc2231_value(value))
    except Exception:
        return str(value[2])


def _names(msg: Message, budget: Budget) -> tuple[str | None, tuple[str, ...]]:
    """(the file name, every name): the file name is the ``filename`` parameter, else ``name``,
    decoded; when neither parses, the names are the raw fields that mention a name."""
    names: list[str] = []
    for getter in (msg.get_filename, lambda: msg.get_param("name")):
        try:
            value = getter()
        except Exception:  # a broken parameter must not stop the reading; the raw field is read below
            continue
        if value is None:
            continue
        text = _collapse(value) if isinstance(value, tuple) else str(value)
        text = one_line(decode_words(text, budget))
        if text and text not in names:
            names.append(text)
    filename = names[0] if names else None
    if not names:
        for header in ("content-disposition", "content-type"):
            raw = msg.get(header)
            if raw is not None and "name" in str(raw).lower():
                names.append(one_line(decode_words(str(raw), budget)))
    return filename, tuple(names)


def _decoded(text: str, encoding: str) -> bytes:
    raw = text.encode("utf-8", "surrogateescape")
    return b64decode(raw) if encoding == "base64" else binascii.a2b_qp(raw)


def _raw_bytes(payload: object) -> bytes:
    return str(payload or "").encode("utf-8", "surrogateescape")


def _payload_bytes(msg: Message, unread: list[Unread], where: str) -> bytes:
    """The part's content after transfer decoding, bytes exactly as sent (no charset applied)."""
    cte = str(msg.get("content-transfer-encoding", "")).strip().lower()
    try:
        if cte == "base64":  # decoded here: more forgiving of bad padding and stray characters
            payload = payload_of(msg)
            return b64decode(payload.encode("ascii", "ignore") if isinstance(payload, str) else b"")
        decoded = msg.get_payload(decode=True)  # quoted-printable, uuencode; 7bit/8bit/binary as sent
    except Exception:  # a transfer encoding the stdlib chokes on: the raw text, marked
        unread.append(Unread(where, "the transfer encoding could not be decoded"))
        decoded = str(payload_of(msg)).encode("utf-8", "surrogateescape")
    return decoded if isinstance(decoded, bytes) else b""
