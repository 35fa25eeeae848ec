"""Every RFC 822 message of the shared corpus: single files and the members of its mbox files."""

from __future__ import annotations

import csv
import mailbox
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from tests.support.corpus import corpus_root

MESSAGE_ROLES = {"message", "header_fixture", "other"}
MBOXES = (
    "fedora-devel-list-2010-01/2010-January.mbox",  # the .txt.gz beside it is the same month
    "cpython-test_email/mailbox_01.mbox",
    "jstedfast-MimeKit/mbox/issue1189.mbox.txt",
    "jstedfast-MimeKit/mbox/simple.mbox.txt",
    "jstedfast-MimeKit/mbox/unmunged.mbox.txt",
)


@dataclass(frozen=True, slots=True)
class CorpusMessage:
    name: str  # path in the corpus, with "#n" for the n-th member of an mbox
    raw: bytes


def _manifest(root: Path) -> list[dict[str, str]]:
    with open(root / "MANIFEST.tsv", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


def mbox_messages(relative: str) -> list[CorpusMessage]:
    box = mailbox.mbox(str(corpus_root() / relative), create=False)
    try:
        return [CorpusMessage(f"{relative}#{i}", box.get_bytes(key)) for i, key in enumerate(box.keys())]
    finally:
        box.close()


@cache
def all_messages() -> tuple[CorpusMessage, ...]:
    root = corpus_root()
    found = [
        CorpusMessage(row["path"], (root / row["path"]).read_bytes())
        for row in _manifest(root)
        if row["role"] in MESSAGE_ROLES and not row["path"].endswith(".json")
    ]
    for relative in MBOXES:
        found.extend(mbox_messages(relative))
    return tuple(found)


def as_on_the_wire(raw: bytes) -> bytes:
    """What an MTA hands on: CRLF line endings, and a final line break."""
    wire = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return wire if wire.endswith(b"\r\n") else wire + b"\r\n"
