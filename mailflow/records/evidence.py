"""Evidence that stands up: the diary's chain, each recorded message's bytes, an export for a board
or a legal request, and the heads of every chain to publish.

* ``verify``: the chain (``mailflow.case.diary.examine``: an edited, a deleted, a reordered entry),
  then each recorded message against the SHA-256 its entry holds, which the chain covers: an inbound
  message's bytes are the last ``size`` bytes of its blob (the blob begins with our own Received
  trace), an outbound message's are its whole blob. Messages that retention removed are sealed by
  the diary's redaction entry and not looked for.
* ``export``: a folder (or a .zip) with every message as received and sent (``messages.mbox``,
  mboxrd, and each one's exact bytes under ``messages/``), a readable ``timeline.html``, the diary
  with every field and hash (``diary.json``, enough to recompute the chain), the chain's head and
  what verify found (``head.txt``), and ``SHA256SUMS``.
* ``heads``: one line per case (reference, last entry, its hash), their SHA-256 and, with
  ``[records] heads_key``, an HMAC-SHA256 of them. Published or mailed to the board, it makes a
  rewrite of the whole database detectable: ``check_heads`` finds each case's head of then still
  in its chain now.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import Connection, select
from sqlmodel import Session

from mailflow.case import diary
from mailflow.clock import as_utc
from mailflow.model import DiaryEntry
from mailflow.model import core as t
from mailflow.records.facts import rows


@dataclass(frozen=True, slots=True)
class Finding:
    ref: str
    entries: int
    chain: diary.Broken | None
    message: diary.Broken | None

    @property
    def intact(self) -> bool:
        return self.chain is None and self.message is None

    def describe(self) -> str:
        if self.intact:
            return f"{self.ref}: intact ({self.entries} entries)"
        broken = self.chain or self.message
        assert broken is not None
        what = "chain" if self.chain else "message"
        return f"{self.ref}: BROKEN at entry {broken.seq} ({what}): {broken.why}"


def _redacted(entry: DiaryEntry) -> bool:
    return set(entry.detail) == {diary.REDACTED}


def message_bytes(conn: Connection, entry: DiaryEntry) -> bytes | None:
    """The bytes an entry's message had as received (or as sent), or None when it records none."""
    if entry.inbound_id is not None and entry.content_sha256:
        i = t.inbound.c
        row = conn.execute(
            select(i.size, t.blob.c.data).join(t.blob, t.blob.c.id == i.blob_id).where(i.id == entry.inbound_id)
        ).first()
        if row is None:
            return b""
        size, data = int(row[0]), bytes(row[1])
        return data[-size:] if size else b""
    if entry.outbound_id is not None and entry.content_sha256:
        o = t.outbound.c
        sent = conn.execute(
            select(t.blob.c.data).join(t.outbound, o.blob_id == t.blob.c.id).where(o.id == entry.outbound_id)
        ).scalar()
        return bytes(sent) if sent is not None else b""
    return None


def check_messages(conn: Connection, entries: list[DiaryEntry]) -> diary.Broken | None:
    for entry in entries:
        if _redacted(entry) or not entry.content_sha256:
            continue
        raw = message_bytes(conn, entry)
        if raw is None:
            continue
        if hashlib.sha256(raw).hexdigest() != entry.content_sha256:
            side = "received" if entry.inbound_id is not None else "sent"
            return diary.Broken(entry.seq, f"the message it records is not the one {side} (its SHA-256 differs)")
    return None


def verify(session: Session, case_id: int, ref: str) -> Finding:
    entries = diary.entries(session, case_id)
    chain = diary.examine(entries)
    message = check_messages(session.connection(), entries)
    return Finding(ref, len(entries), chain, message)


def case_refs(conn: Connection) -> list[tuple[int, str]]:
    return [(i, r) for i, r in rows(conn, select(t.cases.c.id, t.cases.c.ref).order_by(t.cases.c.id))]


# -- heads -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Heads:
    text: str
    digest: str
    signature: str | None


_LINE = re.compile(r"^(\d{4}-\d{4,}) (\d+) ([0-9a-f]{64})$")


def heads(conn: Connection, now: datetime, *, key: bytes | None = None) -> Heads:
    lines = []
    for case_id, ref in case_refs(conn):  # one read per case, through the index on (case_id, seq)
        head = diary.head(conn, case_id)
        if head.seq:
            lines.append(f"{ref} {head.seq} {head.hash}")
    body = "\n".join(lines) + "\n"
    digest = hashlib.sha256(body.encode("ascii")).hexdigest()
    signature = hmac.new(key, body.encode("ascii"), hashlib.sha256).hexdigest() if key else None
    text = f"mailflow diary heads at {as_utc(now).isoformat(timespec='seconds')}\n{body}sha256 {digest}\n"
    if signature:
        text += f"hmac-sha256 {signature}\n"
    return Heads(text, digest, signature)


def check_heads(conn: Connection, published: str, *, key: bytes | None = None) -> list[str]:
    """What no longer holds of a published digest: each case whose head of then is not in its chain."""
    problems: list[str] = []
    lines = [line.strip() for line in published.splitlines() if _LINE.match(line.strip())]
    body = "\n".join(lines) + "\n"
    for line in published.splitlines():
        word, _, value = line.strip().partition(" ")
        if word == "sha256" and value != hashlib.sha256(body.encode("ascii")).hexdigest():
            problems.append("the digest does not match its lines: the published text itself was altered")
        if word == "hmac-sha256":
            if key is None:
                problems.append("the digest is signed, but no [records] heads_key is configured to check it")
            elif not hmac.compare_digest(value, hmac.new(key, body.encode("ascii"), hashlib.sha256).hexdigest()):
                problems.append("the signature does not match: the published text was altered or the key differs")
    refs = dict((r, i) for i, r in case_refs(conn))
    d = t.diary.c
    for line in lines:
        match = _LINE.match(line)
        assert match is not None
        ref, seq, hash_ = match[1], int(match[2]), match[3]
        case_id = refs.get(ref)
        if case_id is None:
            problems.append(f"{ref}: the case is gone")
            continue
        now_hash = conn.execute(select(d.hash).where(d.case_id == case_id, d.seq == seq)).scalar()
        if now_hash != hash_:
            problems.append(f"{ref}: entry {seq} no longer has the hash published then (the diary was rewritten)")
    return problems


# -- export ------------------------------------------------------------------------------------

_TIMELINE = jinja2.Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Case {{ ref }}: evidence timeline</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:70em}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em;vertical-align:top;text-align:left}
pre{white-space:pre-wrap;margin:0;font-size:.9em}.hash{font-family:monospace;font-size:.8em;color:#555}
.broken{color:#b00;font-weight:bold}
</style></head><body>
<h1>Case {{ ref }}</h1>
<p>Exported {{ exported }} UTC. Diary chain: <span class="{{ '' if intact else 'broken' }}">{{ verdict }}</span>.
Head: entry {{ head_seq }}, <span class="hash">{{ head_hash }}</span>.</p>
<table><thead><tr><th>#</th><th>when (UTC)</th><th>what</th><th>who</th><th>message</th><th>text</th><th>hashes</th>
</tr></thead><tbody>
{% for e in entries %}<tr id="e{{ e.seq }}">
<td>{{ e.seq }}</td><td>{{ e.at }}</td><td>{{ e.kind }}{% if e.unverified %} (unverified){% endif %}</td>
<td>{{ e.actor or '' }}{% if e.from_addr %}<br>from {{ e.from_addr }}{% endif %}
{% if e.to %}<br>to {{ e.to }}{% endif %}</td>
<td>{% if e.subject %}{{ e.subject }}<br>{% endif %}
{% if e.file %}<a href="{{ e.file }}">{{ e.file }}</a>{% endif %}</td>
<td><pre>{{ e.text }}</pre>{% if e.detail %}<pre>{{ e.detail }}</pre>{% endif %}</td>
<td class="hash">entry {{ e.hash }}<br>prev {{ e.prev_hash }}
{% if e.content %}<br>message {{ e.content }}{% endif %}</td>
</tr>{% endfor %}
</tbody></table></body></html>
"""
)

README = """Evidence bundle of case {ref}, exported {exported} UTC.

messages.mbox      every message of the case as received and as sent (mboxrd, in diary order)
messages/          each message's exact bytes: NNNN-in.eml (as received: without our own trace field),
                   NNNN-out.eml (as sent); NNNN is the diary entry that records it
timeline.html      the diary, readable
diary.json         the diary with every field and hash
head.txt           the chain's head, and what `mailflow diary verify` found
SHA256SUMS         the SHA-256 of each file here (sha256sum -c SHA256SUMS)

Each diary entry's hash is the SHA-256 of its fields (as in diary.json) and of the hash of the entry
before it, so the last entry's hash (head.txt) stands for the whole diary. Each message's SHA-256 is
in the entry that records it ("content_sha256"): `sha256sum messages/*` shows the same values.
Entries that retention redacted keep their hash, and the redaction entry after them seals them.
"""


def _mboxrd(sender: str, at: datetime, raw: bytes) -> bytes:
    """One message of an mboxrd file: From_ line, '>'-quoted From lines, LF line ends."""
    text = raw.replace(b"\r\n", b"\n")
    quoted = re.sub(rb"(?m)^(>*From )", rb">\1", text)
    stamp = as_utc(at).strftime("%a %b %d %H:%M:%S %Y")
    return f"From {sender or 'MAILER-DAEMON'} {stamp}\n".encode() + quoted.rstrip(b"\n") + b"\n\n"


def export(session: Session, case_id: int, ref: str, out: Path, now: datetime) -> Path:
    conn = session.connection()
    entries = diary.entries(session, case_id)
    finding = verify(session, case_id, ref)
    files: dict[str, bytes] = {}
    mbox = io.BytesIO()
    shown: list[dict[str, Any]] = []
    dumped: list[dict[str, Any]] = []
    for entry in entries:
        fields = {c: getattr(entry, c) for c in DiaryEntry.model_fields}
        detail = json.dumps(entry.detail, ensure_ascii=False) if entry.detail else ""
        dumped.append({k: (as_utc(v).isoformat() if isinstance(v, datetime) else v) for k, v in fields.items()})
        raw = None if _redacted(entry) else message_bytes(conn, entry)
        name = None
        if raw:
            name = f"messages/{entry.seq:04d}-{'in' if entry.inbound_id is not None else 'out'}.eml"
            files[name] = raw
            mbox.write(_mboxrd(entry.from_addr or "", entry.at, raw))
        shown.append(
            {
                "seq": entry.seq, "at": f"{as_utc(entry.at):%Y-%m-%d %H:%M:%S}", "kind": entry.kind.value,
                "unverified": entry.unverified, "actor": entry.actor, "from_addr": entry.from_addr,
                "to": ", ".join(entry.to_addrs or []), "subject": entry.subject, "file": name,
                "text": entry.new_text or "", "detail": detail,
                "hash": entry.hash, "prev_hash": entry.prev_hash, "content": entry.content_sha256,
            }
        )  # fmt: skip
    head_seq, head_hash = (entries[-1].seq, entries[-1].hash) if entries else (0, diary.GENESIS)
    exported = f"{as_utc(now):%Y-%m-%d %H:%M:%S}"
    verdict = "intact" if finding.intact else finding.describe().partition(": ")[2]
    files["messages.mbox"] = mbox.getvalue()
    files["diary.json"] = json.dumps(dumped, ensure_ascii=False, indent=1, default=str).encode("utf-8")
    files["timeline.html"] = _TIMELINE.render(
        ref=ref, exported=exported, intact=finding.intact, verdict=verdict, head_seq=head_seq, head_hash=head_hash,
        entries=shown,
    ).encode("utf-8")  # fmt: skip
    files["head.txt"] = f"case {ref}\nentries {len(entries)}\nhead {head_seq} {head_hash}\nverify: {verdict}\n".encode()
    files["README.txt"] = README.format(ref=ref, exported=exported).encode()
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n" for name, data in sorted(files.items()))
    files["SHA256SUMS"] = sums.encode()
    if out.suffix == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, data in sorted(files.items()):
                bundle.writestr(f"{ref}/{name}", data)
        return out
    for name, data in files.items():
        target = out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return out
