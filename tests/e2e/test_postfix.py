"""Mailflow behind a real Postfix, configured with the snippets of config/postfix/ as they stand:
LMTP to `mailflow serve`, and a pipe(8) transport running `mailflow ingest`. A report, a reply to
a case address (a plus-address), Mailflow down and back (the deferred queue retried with
`postqueue -f`, one acknowledgement per report), and a message too big (5.3.4 in the bounce)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sysconfig
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from mailflow.model import InboundMessage, InboundSource, OutboundKind
from mailflow.service import Service
from tests.support.mail import header, parse, report
from tests.support.postfix import Postfix, available, wait_for, which_python
from tests.support.sink import Sink, free_port
from tests.support.stack import CONDUCT, Stack, write_config
from tests.support.strict import unavailable
from tests.support.trace import smtp_trace

WORKTREE = Path(__file__).resolve().parents[2]
REPORTER = "jane@example.net"


@pytest.fixture
def root() -> Iterator[Path]:
    """A directory the unprivileged pipe user may enter (pytest's tmp_path is root's alone)."""
    available()
    path = Path(tempfile.mkdtemp(prefix="mailflow-postfix-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        # Never through a mount that is still there (a bind mount of the checkout, say).
        mounts = Path("/proc/mounts").read_text().split()
        if not any(m == str(path) or m.startswith(f"{path}/") for m in mounts):
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def sink() -> Iterator[Sink]:
    """Where Postfix sends everything not for the conduct domain: the bounces."""
    sink = Sink().start()
    try:
        yield sink
    finally:
        sink.stop()


def _open_to_others(path: Path) -> bool:
    """May a user who is neither owner nor group enter every directory down to ``path``?"""
    return all(part.stat().st_mode & 0o001 for part in [path, *path.parents])


class Deployment:
    """Mailflow and Postfix together; ``down``/``up`` take Mailflow away and bring it back."""

    def __init__(self, root: Path, transport: str, sink: Sink) -> None:
        self.transport = transport
        self.stack = Stack("sqlite+stub", root, None, "stub://")
        self.lmtp_port = free_port()
        intake = {"smtp_listen": "", "lmtp_listen": f"127.0.0.1:{self.lmtp_port}", "max_message_size": "64KiB"}
        self.settings = self.stack.settings(intake=intake)
        self.config = write_config(root / "mailflow.toml", self.settings)
        self.service: Service | None = None
        self.mounts: list[Path] = []
        replace = {"127.0.0.1:8024": f"127.0.0.1:{self.lmtp_port}"}
        if transport == "pipe":
            replace |= self._pipe_user(root)
        self.postfix = Postfix(root / "postfix", transport=transport, replace=replace, relay_port=sink.port)

    def _pipe_user(self, root: Path) -> dict[str, str]:
        """The pipe runs as nobody: the system's Python with this checkout and its virtualenv's
        packages (the test's own interpreter lives where nobody may not go), and a data
        directory nobody owns."""
        self.stack.engine  # noqa: B018  (creates and migrates the database, as `mailflow init` would)
        nobody = pwd.getpwnam("nobody")
        for directory in (root / "data", root / "outgoing"):
            directory.mkdir(exist_ok=True)
            for path in [directory, *directory.rglob("*")]:
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        self.config.chmod(0o644)
        code, packages = WORKTREE, Path(sysconfig.get_paths()["purelib"])
        if not _open_to_others(code) or not _open_to_others(packages):
            # A checkout under a private directory (root's home, say): nobody reaches it through a
            # bind mount of it in our own directory.
            if not packages.is_relative_to(code):
                unavailable(f"{packages} is not reachable by an unprivileged user")
            mounted = root / "checkout"
            mounted.mkdir()
            subprocess.run(["mount", "--bind", str(code), str(mounted)], check=True, capture_output=True)
            self.mounts.append(mounted)
            code, packages = mounted, mounted / packages.relative_to(code)
        command = f"/usr/bin/env PYTHONPATH={code}:{packages} {which_python()} -m mailflow"
        return {
            "/opt/mailflow/.venv/bin/mailflow": command,
            "/etc/mailflow/mailflow.toml": str(self.config),
            "user=mailflow": "user=nobody",
        }

    def close(self) -> None:
        self.postfix.stop()
        self.stack.stop_all()
        for mounted in self.mounts:
            subprocess.run(["umount", "-l", str(mounted)], check=False)

    def up(self) -> None:
        if self.transport == "lmtp":
            self.service = self.stack.start(self.settings)
        else:
            write_config(self.config, self.settings)

    def down(self) -> None:
        if self.transport == "lmtp":
            assert self.service is not None
            self.stack.stop_all()
            self.service = None
        else:  # `mailflow ingest` cannot reach its database: it exits 75
            down = self.stack.settings(
                intake={"smtp_listen": "", "lmtp_listen": ""},
                database={"url": f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/nothing"},
            )
            write_config(self.config, down)

    def wait_idle(self) -> None:
        if self.transport == "lmtp":
            self.stack.wait_idle()

    def acknowledgements(self) -> list[str]:
        return [o.recipients[0] for o in self.stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]

    def inbound(self) -> list[InboundMessage]:
        with self.stack.session() as s:
            return list(s.scalars(select(InboundMessage).order_by(InboundMessage.id)))


@pytest.fixture(params=["lmtp", "pipe"])
def deployment(request: pytest.FixtureRequest, root: Path, sink: Sink) -> Iterator[Deployment]:
    deployment = Deployment(root, request.param, sink)
    try:
        deployment.up()
        deployment.postfix.start()
        yield deployment
    finally:
        deployment.close()


def test_reports_replies_an_outage_and_a_too_big_message_through_postfix(deployment: Deployment, sink: Sink) -> None:
    postfix, stack = deployment.postfix, deployment.stack

    # A report to conduct@ reaches Mailflow through Postfix and is acknowledged once.
    postfix.send(report(message_id="first@example.net"), sender=REPORTER, to=CONDUCT)
    postfix.wait_log(r"to=<conduct@example\.org>.*status=sent")
    deployment.wait_idle()
    [case] = stack.cases()
    assert deployment.acknowledgements() == [REPORTER]
    [first] = deployment.inbound()
    assert first.source is (InboundSource.LMTP if deployment.transport == "lmtp" else InboundSource.PIPE)
    assert first.mail_from == REPORTER and first.rcpt_to == [CONDUCT]
    if deployment.transport == "lmtp":  # Postfix's lmtp client, named in our Received field
        assert first.origin == {"peer": "127.0.0.1", "helo": "mx.test.example"}

    # The reporter answers the acknowledgement: to the case's plus-address, through Postfix.
    [ack] = [m for m in stack.delivered() if REPORTER in header(m, "To")]
    case_address = parse(ack)["Reply-To"].addresses[0].addr_spec
    assert case_address.startswith(f"conduct+{case.ref}.")
    reply = report(
        subject=f"Re: [conduct #{case.ref}] more detail",
        to=case_address,
        headers={"In-Reply-To": "<unrelated@example.net>"},
        body="One more thing about Tuesday.\n",
    )
    postfix.send(reply, sender=REPORTER, to=case_address)
    postfix.wait_log(r"to=<conduct\+.*status=sent")
    deployment.wait_idle()
    second = deployment.inbound()[1]
    assert second.rcpt_to == [case_address] and second.case_id == case.id
    assert len(stack.cases()) == 1

    # Mailflow is down: Postfix keeps the report; back up, `postqueue -f` delivers it, once.
    deployment.down()
    outage = report(sender="Kim <kim@example.net>", message_id="during-outage@example.net")
    postfix.send(outage, sender="kim@example.net", to=CONDUCT)
    postfix.wait_log(r"to=<conduct@example\.org>.*status=deferred")
    assert not postfix.queue_empty()
    deployment.up()
    postfix.flush()
    wait_for(postfix.queue_empty, 60, "Postfix's queue to empty after postqueue -f")
    deployment.wait_idle()
    assert sorted(deployment.acknowledgements()) == [REPORTER, "kim@example.net"]
    postfix.flush()  # nothing left to deliver twice
    deployment.wait_idle()
    assert len(deployment.acknowledgements()) == 2 and len(stack.cases()) == 2

    # Too big for Mailflow (64 KiB), not for Postfix: bounced with 5.3.4.
    postfix.send(report(body="x" * 100_000), sender="big@example.net", to=CONDUCT)
    [bounced] = postfix.wait_log(r"to=<conduct@example\.org>.*status=bounced")
    assert "5.3.4" in bounced
    [dsn] = wait_for(lambda: [r for r in sink.received if r.rcpt_tos == ["big@example.net"]], 60, "the bounce")
    assert b"5.3.4" in dsn.data and dsn.mail_from in ("", "<>")
    assert len(deployment.inbound()) == 3


def test_our_received_field_names_postfix_as_the_client(root: Path, sink: Sink) -> None:
    deployment = Deployment(root, "lmtp", sink)
    try:
        deployment.up()
        deployment.postfix.start()
        raw = report()
        deployment.postfix.send(raw, sender=REPORTER, to=CONDUCT)
        deployment.postfix.wait_log(r"status=sent")
        from mailflow.model import Blob

        with deployment.stack.session() as s:
            [row] = s.scalars(select(InboundMessage))
            stored = s.get(Blob, row.blob_id).data  # type: ignore[union-attr]
        # Ours on top, then Postfix's own, then what the reporter's client sent.
        trace = stored.split(b"\r\nReceived: from ", 1)[0] + b"\r\n"
        assert smtp_trace("mx.test.example", "LMTP").fullmatch(trace)
        assert b"by mx.test.example (Postfix) with ESMTP" in stored and stored.endswith(raw.split(b"\r\n\r\n", 1)[1])
    finally:
        deployment.close()
