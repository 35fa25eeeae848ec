"""Real processes: ``mailflow serve`` killed mid-task loses nothing; separate ``dramatiq`` worker
processes do the work when the broker is Redis or RabbitMQ."""

from __future__ import annotations

import os
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mailflow.model import Case, InboundMessage, InboundState, OutboundKind, OutboundMessage, OutboundState
from tests.support.mail import header, report
from tests.support.sink import free_port
from tests.support.stack import CONDUCT, Stack, write_config


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"mailflow serve exited early: {process.stderr.read().decode() if process.stderr else ''}"
            )
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("mailflow serve did not open its port")


def _serve(config: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MAILFLOW_CONFIG": str(config)}
    process = subprocess.Popen(
        [sys.executable, "-m", "mailflow", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _wait_for_port(port, process)
    return process


def _send_reports(port: int, count: int, tag: str) -> None:
    def one_connection(start: int) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
            for n in range(start, count, 4):
                client.sendmail(
                    f"reporter{n}@example.net",
                    [CONDUCT],
                    report(sender=f"Reporter {n} <reporter{n}@example.net>", message_id=f"{tag}-{n}@example.net"),
                )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one_connection, range(4)))


def _delivered_once(stack: Stack) -> int:
    """Mails in the outgoing Maildir, after checking that no Message-ID is there twice."""
    ids = [header(raw, "Message-ID") for raw in stack.delivered()]
    assert len(ids) == len(set(ids)), "a mail was delivered twice"
    return len(ids)


@pytest.mark.parametrize("stack", ["sqlite+stub", "postgres+redis"], indirect=True)
def test_a_service_killed_mid_task_resumes_every_message_exactly_once(stack: Stack) -> None:
    port = free_port()
    config = write_config(stack.tmp / "mailflow.toml", stack.settings(intake={"smtp_listen": f"127.0.0.1:{port}"}))
    process = _serve(config, port)
    try:
        _send_reports(port, 120, "killed")
        process.send_signal(signal.SIGKILL)  # the moment the last 250 came back
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    # every accepted message is in the database, processed or not
    assert stack.count(InboundMessage) == 120
    unfinished = stack.count(InboundMessage, InboundMessage.state == InboundState.RECEIVED)

    process = _serve(config, port)
    try:
        stack.wait_idle(timeout=300)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    assert process.returncode == 0, process.stderr.read().decode() if process.stderr else ""
    assert stack.count(Case) == 120
    acks = stack.count(OutboundMessage, OutboundMessage.kind == OutboundKind.ACKNOWLEDGEMENT)
    copies = stack.count(OutboundMessage, OutboundMessage.kind == OutboundKind.FANOUT)
    sent = stack.count(OutboundMessage, OutboundMessage.state == OutboundState.SENT)
    assert acks == copies == 120 and sent == 240
    assert _delivered_once(stack) == 240  # per report: the acknowledgement and the committee's copy, none twice
    print(f"\nkilled with {unfinished} of 120 messages still unprocessed; all resumed")


@pytest.mark.parametrize("stack", ["postgres+redis", "postgres+rabbitmq"], indirect=True)
def test_separate_dramatiq_worker_processes_do_the_work(stack: Stack) -> None:
    dramatiq = shutil.which("dramatiq", path=str(Path(sys.executable).parent))
    assert dramatiq, "the dramatiq command is installed with mailflow"
    settings = stack.settings(queue={"embedded_worker": False})
    config = write_config(stack.tmp / "mailflow.toml", settings)
    front = stack.start(settings)  # listeners and sweep only
    env = {**os.environ, "MAILFLOW_CONFIG": str(config)}
    workers = subprocess.Popen(
        [dramatiq, "mailflow.worker", "--processes", "2", "--threads", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _send_reports(front.smtp_port, 40, "workers")  # type: ignore[arg-type]
        stack.wait_idle(timeout=300)
    finally:
        workers.send_signal(signal.SIGTERM)
        workers.wait(timeout=60)
    assert stack.count(Case) == 40
    assert stack.count(OutboundMessage, OutboundMessage.state == OutboundState.SENT) == 80
    assert _delivered_once(stack) == 80


def test_embedded_worker_processes_share_the_work_and_a_dead_one_is_replaced(sqlite_stack: Stack) -> None:
    settings = sqlite_stack.settings(queue={"worker_processes": 2})
    service = sqlite_stack.start(settings)
    _send_reports(service.smtp_port, 40, "children")  # type: ignore[arg-type]
    sqlite_stack.wait_idle(timeout=300)
    assert sqlite_stack.count(Case) == 40 and _delivered_once(sqlite_stack) == 80

    # kill one child: the next ids of its share wait in the database until its replacement sweeps them
    children = service._processes._children  # type: ignore[union-attr]
    children[0].kill()  # type: ignore[union-attr]
    children[0].wait()  # type: ignore[union-attr]
    _send_reports(service.smtp_port, 20, "after-kill")  # type: ignore[arg-type]
    sqlite_stack.wait_idle(timeout=300)
    assert sqlite_stack.count(Case) == 60 and _delivered_once(sqlite_stack) == 120
