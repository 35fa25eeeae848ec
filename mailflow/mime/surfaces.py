"""Every surface a recipient could read, decoded: what the policy gate searches.

From a :class:`~mailflow.mime.tree.MessageTree`: the header fields asked for, every body part
(plain text after charset decoding and format=flowed, HTML as visible text, hidden text, style,
script, attribute values and comments), attachment names and descriptions, the text of every
attachment in every format the readers know (``mailflow.mime.formats``), forwarded messages
recursively, MIME preambles and epilogues, and for each text the extra readings where a name can
hide (entities, percent-encoding, base64 runs: ``mailflow.mime.derived``).

What could not be read to the end comes back as :class:`~mailflow.mime.reading.Unread`, with the
place and a fixed reason: the gate holds mail to an outside party on a protected case when any part
is unread (fail closed). Surface names (``where``) may contain file names from the message: they
are shown to the member who has to fix a mail, never logged.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from mailflow.mime.charset import codec_name, decode_bytes
from mailflow.mime.derived import derived_texts
from mailflow.mime.formats import read_file
from mailflow.mime.html import read_html
from mailflow.mime.reading import Budget, Reading, Text, Unread
from mailflow.mime.tree import MessageTree, Part, read_message

__all__ = ["FORWARDED_HEADERS", "Surface", "Surfaces", "read_surfaces"]

FORWARDED_HEADERS = ("From", "Sender", "Reply-To", "To", "Cc", "Bcc", "Subject")
"""Header fields read in every forwarded (attached) message: they name its people."""

_HTML_TYPES = ("text/html", "application/xhtml+xml")
_VCARD_TYPES = ("text/calendar", "text/vcard", "text/x-vcard", "text/directory")
_MESSAGE_NAMES = (".eml", ".mht", ".mhtml")


@dataclass(frozen=True, slots=True)
class Surface:
    where: str
    text: str
    body: bool = False
    """A message body: a finding in it says whether it sits in quoted or forwarded history."""
    encoded: str | None = None
    """The text before a decoding the message needed (percent-encoding, base64), when it had one."""
    base: str | None = None
    """For a derived reading (entities, percent-encoding, base64 decoded): the surface it was read from."""


@dataclass(frozen=True, slots=True)
class Surfaces:
    surfaces: tuple[Surface, ...]
    unread: tuple[Unread, ...]
    files: tuple[tuple[str, str], ...] = ()
    """(where, SHA-256) of every attachment and inline file, as a recipient would save it."""

    @property
    def complete(self) -> bool:
        return not self.unread


def read_surfaces(
    raw: bytes | MessageTree, header_names: Sequence[str] = ("Subject",), budget: Budget | None = None
) -> Surfaces:
    """Every surface of a message (bytes, or a tree already read with the same budget)."""
    budget = budget or Budget()
    tree = raw if isinstance(raw, MessageTree) else read_message(raw, budget)
    walker = _Walker(budget)
    surfaces = list(walker.message(tree, "", tuple(header_names), 0))
    if isinstance(raw, bytes) and tree.all_unread():
        # The structure could not be read to the end: read the bytes as one text too (more, never less).
        surfaces.append(Surface("raw message (could not be taken apart)", decode_bytes(raw, None), body=True))
    return Surfaces(tuple(walker.with_derived(surfaces)), tuple(walker.unread), tuple(walker.files))


class _Walker:
    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.unread: list[Unread] = []
        self.files: list[tuple[str, str]] = []

    def message(self, tree: MessageTree, prefix: str, header_names: tuple[str, ...], depth: int) -> Iterator[Surface]:
        self.unread.extend(Unread(prefix + u.where, u.reason) for u in tree.unread)
        wanted = {n.lower(): n for n in header_names}
        values: dict[str, list[str]] = {}
        for header in tree.headers:
            if header.key in wanted:
                values.setdefault(header.key, []).append(header.value)
        for key, name in wanted.items():
            if values.get(key):
                yield Surface(prefix + ("Subject" if key == "subject" else f"{name} header"), "\n".join(values[key]))
        yield from self.part(tree.root, prefix, header_names, depth)

    def part(self, part: Part, prefix: str, header_names: tuple[str, ...], depth: int) -> Iterator[Surface]:
        self.unread.extend(Unread(prefix + u.where, u.reason) for u in part.unread)
        for name in part.names:
            yield Surface(prefix + "attachment name", name)
        if part.description:
            yield Surface(prefix + "attachment description", part.description)
        forwarded = tuple(dict.fromkeys((*FORWARDED_HEADERS, *header_names)))
        if part.attached is not None:
            inner = f"{prefix}forwarded message ({part.content_type}) > "
            yield from self.message(part.attached, inner, forwarded, depth + 1)
            return
        if part.children or part.preamble is not None or part.epilogue is not None:
            if part.preamble and part.preamble.strip():
                yield Surface(prefix + "MIME preamble", part.preamble, body=True)
            for child in part.children:
                yield from self.part(child, prefix, header_names, depth)
            if part.epilogue and part.epilogue.strip():
                yield Surface(prefix + "MIME epilogue", part.epilogue, body=True)
            return
        yield from self.leaf(part, prefix, depth)

    def leaf(self, part: Part, prefix: str, depth: int) -> Iterator[Surface]:
        attached = part.disposition == "attachment" or bool(part.names)
        label = part.names[0] if part.names else part.content_type
        where = f"{prefix}attachment text ({label})" if attached else None
        if part.data and (attached or part.maintype != "text"):
            self.files.append((f"{prefix}attachment ({label})", part.sha256))
        ctype = part.content_type
        if ctype in _HTML_TYPES:
            yield from self.html(decode_bytes(part.data, part.charset), where or prefix + "HTML body", not attached)
            return
        if part.maintype == "multipart":  # no boundary was found: its body is one text, as sent
            yield Surface(prefix + "plain text body", decode_bytes(part.data, part.charset), body=True)
            return
        if part.maintype == "text" and ctype not in _VCARD_TYPES:
            text = _unflow(decode_bytes(part.data, part.charset), part)
            surface = where or prefix + "plain text body"
            if _charset_unknown(part):
                self.unread.append(Unread(surface, UNKNOWN_CHARSET))
            yield Surface(surface, text, body=not attached)
            return
        if not part.data:
            return
        if any(name.lower().endswith(".eml") for name in part.names) and self.budget.deeper(depth + 1):
            inner = read_message(part.data, self.budget, depth=depth + 1)
            yield from self.message(inner, f"{prefix}forwarded message ({ctype}) > ", FORWARDED_HEADERS, depth + 1)
            return
        reading = read_file(
            part.data,
            filename=part.filename,
            content_type=ctype,
            charset=part.charset,
            where=where or f"{prefix}attachment text ({ctype})",
            budget=self.budget,
            depth=depth + 1,
            nested=self.nested,
        )
        yield from self.reading(reading)

    def html(self, markup: str, where: str, body: bool) -> Iterator[Surface]:
        reading = read_html(markup, where, self.budget)
        for number, text in enumerate(reading.texts):
            yield Surface(text.where, text.text, body=body and number == 0, encoded=text.raw)
        self.unread.extend(reading.unread)

    def reading(self, reading: Reading) -> Iterator[Surface]:
        self.unread.extend(reading.unread)
        for text in reading.texts:
            yield Surface(text.where, text.text)

    def nested(self, data: bytes, filename: str | None, content_type: str, where: str, depth: int) -> Reading:
        """What the format readers hand back to us: HTML files and messages inside archives."""
        name = (filename or "").lower()
        if content_type in _HTML_TYPES or name.endswith((".htm", ".html")):
            return read_html(decode_bytes(data, None), where, self.budget)
        if content_type.startswith("message/") or content_type == "multipart/related" or name.endswith(_MESSAGE_NAMES):
            if not self.budget.deeper(depth):
                return Reading.not_read(where, "messages nested too deeply: the attached message was not read")
            tree = read_message(data, self.budget, depth=depth)
            walker = _Walker(self.budget)
            surfaces = list(walker.message(tree, f"{where} > ", FORWARDED_HEADERS, depth))
            return Reading(
                tuple(_as_text(s) for s in surfaces),
                tuple(walker.unread),
            )
        return Reading.not_read(where, "unknown binary content")

    def with_derived(self, surfaces: list[Surface]) -> Iterator[Surface]:
        """Each surface, followed by its derived readings (entities, percent-encoding, base64)."""
        for surface in surfaces:
            if not self.budget.take_text(len(surface.text)):
                self.unread.append(Unread(surface.where, "more text than the limit: the rest was not read"))
                return
            yield surface
            for label, text in derived_texts(surface.text):
                yield Surface(
                    f"{surface.where} ({label})", text, body=surface.body, encoded=surface.text, base=surface.where
                )


def _as_text(surface: Surface) -> Text:
    return Text(surface.where, surface.text)


UNKNOWN_CHARSET = "text in a charset that is not known (read as a guess)"


def _charset_unknown(part: Part) -> bool:
    """A declared charset nobody knows, on 8-bit text that is not UTF-8: what it says is a guess."""
    if not part.charset or codec_name(part.charset) is not None or part.data.isascii():
        return False
    try:
        part.data.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


_FLOWED_SOFT_BREAK = re.compile(r" \r?\n(?![ \t]*>)")


def _unflow(text: str, part: Part) -> str:
    """format=flowed; delsp=yes: a space before a soft line break is not part of the text."""
    if part.param("format").lower() == "flowed" and part.param("delsp").lower() == "yes":
        return _FLOWED_SOFT_BREAK.sub("", text)
    return text
