"""vCard (2.1, 3.0, 4.0) and iCalendar files: content lines decoded as a client shows them.

Read: every content line, unfolded (a line break followed by a space or tab is removed with that
one character), with its parameters (an attendee's CN="..." is a name) and its value decoded:
QUOTED-PRINTABLE with soft line breaks ("=" at the end of a line, vCard 2.1) in the CHARSET of the
line, ENCODING=b/BASE64 text values, and backslash escapes (``\\n``, ``\\,``, ``\\;``).

Binary values (PHOTO, LOGO, SOUND, KEY, ATTACH, or any VALUE=BINARY, inline base64 or a data:
URI) go back to the dispatcher one level deeper: an image gives its metadata and "image content
cannot be read". A PHOTO or LOGO whose data cannot be decoded is "image in vCard".
"""

from __future__ import annotations

import binascii
import quopri
import re

from mailflow.mime.charset import decode_bytes
from mailflow.mime.formats._base import UNKNOWN_BINARY, VCARD_IMAGE, Context
from mailflow.mime.reading import Reading

__all__ = ["looks_vcard", "read_vcard"]

_BINARY = frozenset({"PHOTO", "LOGO", "SOUND", "KEY", "ATTACH"})
_IMAGES = frozenset({"PHOTO", "LOGO"})
_LINES = re.compile(r"\r\n|\n|\r")
_ESCAPE = re.compile(r"\\([nN,;:\\])")


def looks_vcard(head: str) -> bool:
    start = head.lstrip("\ufeff \t\r\n")[:16].upper()
    return start.startswith(("BEGIN:VCARD", "BEGIN:VCALENDAR"))


def read_vcard(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    text = decode_bytes(data, ctx.charset)
    out: list[str] = []
    reading = Reading()
    for number, line in enumerate(_logical_lines(text), 1):
        head, value = _split(line)
        if head is None:
            out.append(line)
            continue
        prop, params = _parse_head(head)
        encoding = params.get("ENCODING", "").upper()
        flags = params.get("", "").upper()
        binary = prop in _BINARY or params.get("VALUE", "").upper() == "BINARY"
        raw: bytes | None = None
        content_type = params.get("FMTTYPE")
        if content_type is None and prop in _IMAGES and "TYPE" in params:
            content_type = f"image/{params['TYPE'].lower()}"
        if encoding in ("B", "BASE64") or "BASE64" in flags.split(","):
            raw = _b64(value)
        elif encoding == "QUOTED-PRINTABLE" or "QUOTED-PRINTABLE" in flags.split(","):
            raw = quopri.decodestring(value.encode("utf-8"))
        elif binary and value[:5].lower() == "data:":
            header, _, payload = value[5:].partition(",")
            media_type, *options = header.split(";")
            content_type = media_type.strip() or content_type
            raw = _b64(payload) if "base64" in (o.strip().lower() for o in options) else payload.encode("utf-8")
        if binary and raw is not None:
            out.append(head)
            label = f"{prop} in {where}" if prop else f"line {number} in {where}"
            if not raw:
                reading += Reading.not_read(label, VCARD_IMAGE if prop in _IMAGES else UNKNOWN_BINARY)
                continue
            content_type = content_type or "application/octet-stream"
            reading += ctx.file(raw, filename=None, where=label, content_type=content_type)
            continue
        decoded = decode_bytes(raw, params.get("CHARSET")) if raw is not None else value
        out.append(f"{head}:{_ESCAPE.sub(_unescape, decoded)}")
    return ctx.text(where, "\n".join(out)) + reading


def _logical_lines(text: str) -> list[str]:
    """Unfold: a line starting with a space or tab continues the one before (without that
    character); a quoted-printable line ending with "=" continues on the next line."""
    lines: list[str] = []
    quoted_printable_open = False
    for line in _LINES.split(text):
        if lines and quoted_printable_open:
            lines[-1] += "\n" + line
        elif lines and line[:1] in (" ", "\t"):
            lines[-1] += line[1:]
        else:
            lines.append(line)
        current = lines[-1]
        head = current.split(":", 1)[0].upper() if ":" in current else ""
        quoted_printable_open = "QUOTED-PRINTABLE" in head and current.endswith("=")
    return lines


def _split(line: str) -> tuple[str | None, str]:
    """(name and parameters, value) at the first colon outside double quotes; (None, line) without one."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            return line[:index], line[index + 1 :]
    return None, line


def _parse_head(head: str) -> tuple[str, dict[str, str]]:
    """(property name without its group, parameters); bare vCard 2.1 parameters ("BASE64",
    "QUOTED-PRINTABLE", "JPEG") are collected, comma-separated, under the key ""."""
    parts = re.findall(r'(?:[^;"]|"[^"]*")+', head)
    prop = parts[0].rsplit(".", 1)[-1].strip().upper() if parts else ""
    params: dict[str, str] = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if sep:
            params[key.strip().upper()] = value.strip().strip('"')
        else:
            params[""] = f"{params.get('', '')},{key.strip()}".strip(",")
            if key.strip().upper() in ("JPEG", "PNG", "GIF"):
                params.setdefault("TYPE", key.strip())
    return prop, params


def _b64(value: str) -> bytes:
    clean = re.sub(r"[^A-Za-z0-9+/]", "", value)
    clean = clean[: len(clean) - len(clean) % 4] if len(clean) % 4 == 1 else clean
    try:
        return binascii.a2b_base64(clean + "=" * (-len(clean) % 4))
    except (binascii.Error, ValueError):
        return b""


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return "\n" if char in "nN" else char
