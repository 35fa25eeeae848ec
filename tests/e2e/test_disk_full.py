"""A full disk is a pause, not a wedge: on a real 16 MB file system (a tmpfs the fixture mounts and
removes), intake refuses with 452 4.3.1 while space is short, never says 250 for what it did not
store, and takes mail again by itself once space returns; `mailflow serve` starts on a full disk."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailflow.inbound import space
from mailflow.model import InboundMessage
from tests.support.mail import report
from tests.support.sink import free_port
from tests.support.stack import CONDUCT, Stack, write_config
from tests.support.strict import unavailable

SIZE = 16 * 1024 * 1024
LIMITS = {"max_message_size": "256KiB", "min_free_space": "1MiB"}


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    """A 16 MB tmpfs of our own, unmounted afterwards."""
    mount_point = tmp_path / "volume"
    mount_point.mkdir()
    if os.geteuid() != 0:
        unavailable("mounting a small file system needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point)], capture_output=True, check=False
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {done.stderr.decode(errors='replace').strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


@pytest.fixture
def stack(volume: Path) -> Iterator[Stack]:
    """The embedded stack with its data directory (and outgoing Maildir) on the small volume."""
    stack = Stack("sqlite+stub", volume, None, "stub://")
    try:
        yield stack
    finally:
        stack.stop_all()


def fill(volume: Path) -> Path:
    """Write a file until the volume is full, to the last byte the file system gives."""
    filler = volume / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (1024 * 1024, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def attempt(port: int, raw: bytes) -> tuple[int, str]:
    """One whole transaction; the first reply that is not a success, or the final one."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo("client.example")
            for code, text in (client.mail("jane@example.net"), client.rcpt(CONDUCT)):
                if code >= 300:
                    return code, text.decode()
            code, text = client.data(raw)
            return code, text.decode()
    except smtplib.SMTPResponseException as exc:
        return exc.smtp_code, exc.smtp_error.decode()


def test_a_full_disk_refuses_with_452_and_intake_resumes_by_itself(stack: Stack, volume: Path) -> None:
    service = stack.start(stack.settings(intake=LIMITS), worker=False)
    assert attempt(service.smtp_port, report())[0] == 250

    # A transaction under way when the disk fills is refused at DATA ...
    client = smtplib.SMTP("127.0.0.1", service.smtp_port, timeout=30)
    client.ehlo("client.example")
    assert client.mail("jane@example.net")[0] == 250 and client.rcpt(CONDUCT)[0] == 250
    filler = fill(volume)
    assert client.docmd("DATA") == (452, b"4.3.1 Insufficient system storage; please try again later")
    client.close()
    # ... and a new one at MAIL FROM; the sending MTA keeps the message and retries.
    assert attempt(service.smtp_port, report()) == (452, "4.3.1 Insufficient system storage; please try again later")
    state = space.check(service.settings)
    assert not state.ok and "intake paused" in state.reason and str(volume / "data") in state.reason
    assert stack.count(InboundMessage) == 1

    # Space returns: mail is taken again, without a restart.
    filler.unlink()
    assert space.check(service.settings).ok
    code, text = attempt(service.smtp_port, report())
    assert code == 250, text
    assert stack.count(InboundMessage) == 2


def test_with_the_guard_off_a_full_disk_gives_451_never_250_and_no_wedge(stack: Stack, volume: Path) -> None:
    # min_free_space = 0: the database itself runs out of room. Whatever is answered, a 250 means
    # stored; and once space returns the spool takes mail again (the defect: 451 to everything).
    service = stack.start(stack.settings(intake={**LIMITS, "min_free_space": 0}), worker=False)
    for _ in range(3):
        assert attempt(service.smtp_port, report(body="x" * 100_000))[0] == 250
    filler = fill(volume)
    answers = [attempt(service.smtp_port, report(body="y" * 100_000)) for _ in range(30)]
    accepted = [text for code, text in answers if code == 250]
    assert (451, "4.3.0 Temporary failure storing the message; please try again later") in answers
    assert all(code in (250, 451) for code, _ in answers)
    assert stack.count(InboundMessage) == 3 + len(accepted)
    filler.unlink()
    assert attempt(service.smtp_port, report())[0] == 250
    assert stack.count(InboundMessage) == 4 + len(accepted)


def test_the_wal_stays_bounded_and_serve_truncates_it(stack: Stack, volume: Path) -> None:
    from mailflow.database import checkpoint

    service = stack.start(stack.settings(intake=LIMITS), worker=False)
    for _ in range(30):
        assert attempt(service.smtp_port, report(body="z" * 200_000))[0] == 250
    wal = volume / "data" / "mailflow.sqlite3-wal"
    checkpoint(service.runtime.engine)
    assert wal.stat().st_size == 0
    assert (volume / "data" / "mailflow.sqlite3").stat().st_size > 30 * 200_000


def _serve(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "mailflow", "serve", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_serve_starts_on_a_full_disk_refusing_and_accepts_once_space_returns(stack: Stack, volume: Path) -> None:
    port = free_port()
    settings = stack.settings(intake={**LIMITS, "smtp_listen": f"127.0.0.1:{port}", "lmtp_listen": ""})
    config = write_config(volume.parent / "mailflow.toml", settings)
    # A database that has seen mail, then a clean stop; then the disk fills up.
    stack.start(settings, worker=False)
    assert attempt(port, report())[0] == 250
    stack.stop_all()
    filler = fill(volume)

    serve = _serve(config)
    try:
        _wait_for(lambda: serve.poll() is not None or _answers(port), 60, "serve to listen")
        assert serve.poll() is None, serve.stderr.read().decode() if serve.stderr else ""
        assert attempt(port, report()) == (452, "4.3.1 Insufficient system storage; please try again later")
        filler.unlink()
        _wait_for(lambda: attempt(port, report(message_id="after@example.net"))[0] == 250, 30, "intake to resume")
        assert serve.poll() is None
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=60)
    log = err.decode()
    assert "intake paused" in log and "min_free_space" in log and "intake resumed" in log
    assert "jane@example.net" not in log
    assert stack.count(InboundMessage) == 2


def _answers(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
            return client.noop()[0] == 250
    except OSError:
        return False
