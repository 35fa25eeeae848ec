"""The IMAP intake under test: mailflow settings for the harness's Dovecot, and a poller wired to a
real database that processes what it fetches at once (as ``mailflow imap poll`` does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mailflow.config import Settings
from mailflow.inbound.imap import ImapPoller
from mailflow.inbound.spool import Spool
from mailflow.runtime import Runtime
from tests.support.dovecot import DovecotServer
from tests.support.mail import report
from tests.support.stack import CONDUCT, Stack, write_config

USER = CONDUCT
PASSWORD = "mailbox password: correct horse"
KEYWORD = b"$MailflowSeen"


def imap_section(dovecot: DovecotServer, **overrides: Any) -> dict[str, Any]:
    """``[intake.imap]`` for the harness: STARTTLS with its CA; IDLE waits are long, so that only
    IDLE (never the timer) can wake the poller within a test."""
    section: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": dovecot.imap_port,
        "security": "starttls",
        "username": USER,
        "password": PASSWORD,
        "ca_file": str(dovecot.tls.cafile),
        "poll_seconds": 600,
        "timeout_seconds": 10,
        "reconnect_max_seconds": 2,
    }
    section.update(overrides)
    return {key: value for key, value in section.items() if value is not None}


def with_mailbox(dovecot: DovecotServer) -> DovecotServer:
    """The harness with the conduct mailbox's user in it."""
    dovecot.add_user(USER, PASSWORD)
    return dovecot


def settings(stack: Stack, dovecot: DovecotServer, **imap: Any) -> Settings:
    return stack.settings(intake={"imap": imap_section(dovecot, **imap)})


class Poller:
    """An ImapPoller on the stack's database whose new messages are processed and answered at once."""

    def __init__(self, stack: Stack, dovecot: DovecotServer, **imap: Any) -> None:
        self.settings = settings(stack, dovecot, **imap)
        self.runtime = Runtime.build(self.settings)
        self.process = self.runtime.hand_on
        assert self.settings.intake.imap is not None
        self.poller = ImapPoller(
            self.settings.intake.imap,
            Spool(self.runtime.engine, on_committed=lambda ids: self.on_committed(list(ids))),
            self.runtime.engine,
            max_message_size=int(self.settings.intake.max_message_size),
        )

    def on_committed(self, inbound_ids: list[int]) -> None:  # tests override it to interfere
        self.process(inbound_ids)

    def close(self) -> None:
        self.poller.stop()
        self.runtime.close()


def reports(count: int, first: int = 1, subject: str = "Report") -> list[bytes]:
    """Reports from distinct senders (the acknowledgement's rate limit is per sender)."""
    return [
        report(
            subject=f"{subject} {n}",
            sender=f"Reporter {n} <reporter{n}@example.net>",
            message_id=f"report-{n}.{subject.lower().replace(' ', '-')}@example.net",
        )
        for n in range(first, first + count)
    ]


def flags(dovecot: DovecotServer, folder: str = "INBOX") -> dict[int, set[bytes]]:
    """Every message's stored flags (without the session flag \\Recent)."""
    with dovecot.login(USER) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        found = client.get_flags(uids) if uids else {}
    return {uid: {f for f in values if f != rb"\Recent"} for uid, values in found.items()}


def bodies(dovecot: DovecotServer, folder: str) -> list[bytes]:
    with dovecot.login(USER) as client:
        client.select_folder(folder, readonly=True)
        uids = client.search(["ALL"])
        fetched = client.fetch(uids, ["BODY.PEEK[]"]) if uids else {}
    return [fetched[uid][b"BODY[]"] for uid in sorted(fetched)]


def write_imap_config(path: Path, stack: Stack, section: dict[str, Any]) -> Path:
    """A configuration file for the ``mailflow`` command: the stack's settings and ``[intake.imap]``
    (the password is left out: the tests pass it as MAILFLOW_INTAKE__IMAP__PASSWORD)."""
    write_config(path, stack.settings())
    lines = ["", "[intake.imap]"]
    for key, value in section.items():
        if key == "password":
            continue
        if isinstance(value, bool):
            rendered = "true" if value else "false"
        elif isinstance(value, int | float):
            rendered = str(value)
        elif isinstance(value, list):
            rendered = "[" + ", ".join(f'"{v}"' for v in value) + "]"
        else:
            rendered = '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
        lines.append(f"{key} = {rendered}")
    with path.open("a", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    return path
