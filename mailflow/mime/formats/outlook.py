"""Outlook .msg files (an OLE compound file of MAPI properties), read with extract-msg.

Read: every string property of the message and of its recipients (subject, sender and
recipients' names and addresses, To/Cc/Bcc display lines, the plain body, the transport headers,
and whatever else a client stored as text: contact fields, meeting locations, named properties),
the sent date, the HTML body (given to the dispatcher as text/html, that is to ``nested``), the RTF
body when there is neither a plain nor an HTML body, and the attachments: files go back to the
dispatcher one level deeper (with their names as a text), embedded messages are read the same way,
recursively.

Not read, reported: a file extract-msg cannot open ("damaged Outlook message"), OLE objects and
attachments it cannot read ("embedded binary object"). extract-msg never gets a path: bytes
shorter than the smallest OLE file are refused before, since olefile would take them as a name.
"""

from __future__ import annotations

import re
from typing import Any

import extract_msg
from extract_msg.enums import AttachmentType, ErrorBehavior

from mailflow.mime.charset import decode_bytes
from mailflow.mime.formats._base import DAMAGED_MSG, EMBEDDED_BINARY, OVER_UNPACKING, TOO_DEEP, Context
from mailflow.mime.reading import Reading

__all__ = ["read_msg"]

MIN_OLE_SIZE = 1536  # olefile.MINIMAL_OLEFILE_SIZE: shorter bytes would be taken as a file name
_STRING = re.compile(r"__substg1\.0_([0-9A-Fa-f]{4})(001F|001E)")
_PROPERTY_NAMES = {
    "0037": "subject",
    "0042": "sent representing name",
    "0064": "sent representing address type",
    "0065": "sent representing address",
    "0070": "conversation topic",
    "007D": "transport headers",
    "0C1A": "sender name",
    "0C1F": "sender address",
    "0E02": "Bcc",
    "0E03": "Cc",
    "0E04": "To",
    "0E1D": "normalized subject",
    "1000": "plain text body",
    "1035": "Message-ID",
    "1039": "References",
    "1042": "In-Reply-To",
    "3001": "display name",
    "3003": "address",
    "39FE": "SMTP address",
    "5D01": "sender SMTP address",
    "5D02": "sent representing SMTP address",
}
_HTML_BODY = "__substg1.0_10130102"
_SKIPPED_STORAGES = ("__attach_version1.0_", "__nameid_version1.0")


def read_msg(data: bytes, name: str | None, where: str, ctx: Context) -> Reading:
    if len(data) < MIN_OLE_SIZE:
        return Reading.not_read(where, DAMAGED_MSG)
    try:
        msg = extract_msg.openMsg(data, strict=False, errorBehavior=ErrorBehavior.ATTACH_SUPPRESS_ALL)
    except Exception:
        return Reading.not_read(where, DAMAGED_MSG)
    try:
        return _message(msg, where, ctx, ctx.depth)
    except Exception:
        return Reading.not_read(where, DAMAGED_MSG)
    finally:
        msg.close()


def _message(msg: Any, where: str, ctx: Context, depth: int) -> Reading:
    """One message (the file's or an embedded one at ``depth``): properties, bodies, attachments."""
    level = Context(ctx.budget, depth, ctx.nested, ctx.dispatch)
    reading = _strings(msg, where, level)
    date = _property(msg, "date")
    if date is not None:
        reading += level.text(f"date in {where}", str(date))
    has_plain = msg.exists("__substg1.0_1000001F") or msg.exists("__substg1.0_1000001E")
    html = msg.getStream(_HTML_BODY) if msg.exists(_HTML_BODY) else None
    if html:
        reading += level.file(html, filename=None, where=f"HTML body in {where}", content_type="text/html")
    if not has_plain and not html:
        rtf = _property(msg, "rtfBody")
        if isinstance(rtf, bytes) and rtf:
            if not level.count_unpacked(len(rtf)):
                return reading + Reading.not_read(where, OVER_UNPACKING)
            reading += level.file(rtf, filename=None, where=f"RTF body in {where}", content_type="application/rtf")
    return reading + _attachments(msg, where, level)


def _strings(msg: Any, where: str, ctx: Context) -> Reading:
    """Every string property of the message and its recipients, labelled by what it is."""
    reading = Reading()
    for path in msg.listDir(streams=True, storages=False, includePrefix=False):
        if path[0].startswith(_SKIPPED_STORAGES):
            continue
        match = _STRING.fullmatch(path[-1])
        if match is None:
            continue
        raw = msg.getStream("/".join(path))
        if not raw:
            continue
        text = raw.decode("utf-16-le", "replace") if match.group(2) == "001F" else decode_bytes(raw, None)
        label = _PROPERTY_NAMES.get(match.group(1).upper(), f"property {match.group(1).upper()}")
        if len(path) > 1:
            label = f"recipient {label}"
        reading += ctx.text(f"{label} in {where}", text.rstrip("\x00"))
    return reading


def _attachments(msg: Any, where: str, ctx: Context) -> Reading:
    reading = Reading()
    names: list[str] = []
    for number, attachment in enumerate(_property(msg, "attachments") or (), 1):
        name = _attachment_name(attachment) or f"attachment {number}"
        names.append(name)
        attachment_where = f"{name} in {where}"
        over = ctx.member(where)
        if over is not None:
            reading += over
            break
        kind = getattr(attachment, "type", None)
        data = _property(attachment, "data")
        if kind in (AttachmentType.MSG, AttachmentType.SIGNED_EMBEDDED) and data is not None:
            if not ctx.budget.deeper(ctx.depth + 1):
                reading += Reading.not_read(attachment_where, TOO_DEEP)
            else:
                reading += _message(data, attachment_where, ctx, ctx.depth + 1)
        elif isinstance(data, bytes):
            mime = _property(attachment, "mimetype")
            content_type = mime if isinstance(mime, str) and "/" in mime else "application/octet-stream"
            reading += ctx.file(data, filename=name, where=attachment_where, content_type=content_type)
        elif kind == AttachmentType.WEB:
            reading += ctx.text(attachment_where, str(_property(attachment, "url") or ""))
        else:
            reading += Reading.not_read(attachment_where, EMBEDDED_BINARY)
    return ctx.text(f"attachment names in {where}", "\n".join(names)) + reading


def _attachment_name(attachment: Any) -> str | None:
    for attribute in ("longFilename", "shortFilename", "displayName", "name"):
        value = _property(attachment, attribute)
        if isinstance(value, str) and value.strip():
            return value.strip("\x00").strip()
    return None


def _property(obj: Any, attribute: str) -> Any:
    """An extract-msg property, None when it is absent or fails to decode (it computes lazily)."""
    try:
        return getattr(obj, attribute, None)
    except Exception:
        return None
