"""Faults, with real processes and real servers the tests start themselves (nothing shared is
restarted): PostgreSQL restarted and its connections killed mid-burst, Redis restarted mid-burst,
the smarthost flapping, ``kill -9`` of the front end while separate worker processes run and of
the worker processes mid-batch. Each ends with every message stored once, every acknowledgement
at the smarthost once (by Message-ID; after a kill -9 of a sender, at most the one mail in flight
per connection twice), nothing left ``received``/``queued``/``sending``/``retry``, and the
service working again without a hand."""

from __future__ import annotations

import os
import signal
import smtplib
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from mailflow.model import Case, InboundMessage, InboundState, OutboundKind, OutboundMessage, OutboundState
from tests.e2e.test_processes import _serve
from tests.support.mail import report
from tests.support.private import PrivatePostgres, PrivateRabbitmq, PrivateRedis
from tests.support.sink import Sink, free_port
from tests.support.stack import CONDUCT, Stack, write_config

NO_COMMITTEE: dict[str, Any] = {"committee": {"members": []}}


@pytest.fixture(scope="module")
def pg() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres().start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink().start()
    yield server
    server.stop()


def _database(pg: PrivatePostgres) -> tuple[str, str]:
    name = f"faults_{uuid.uuid4().hex[:10]}"
    return name, pg.database(name)


def _settings(stack: Stack, sink: Sink, *, retry: float = 0.2, **extra: Any) -> Any:
    outgoing = {"transport": f"smtp://127.0.0.1:{sink.port}", "starttls": False, "retry_base_seconds": retry}
    return stack.settings(outgoing=outgoing, **{**NO_COMMITTEE, **extra})


def _send_until_accepted(port: Callable[[], int], raw: bytes, sender: str, timeout: float = 120) -> None:
    """As a sending MTA does: a 4xx or a lost connection is tried again until a 250."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with smtplib.SMTP("127.0.0.1", port(), timeout=30) as client:
                client.sendmail(sender, [CONDUCT], raw)
            return
        except (OSError, smtplib.SMTPException) as exc:
            if isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500:
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _burst(port: Callable[[], int], count: int, tag: str, at: dict[int, Callable[[], None]] | None = None) -> None:
    """``count`` reports from distinct senders over 4 connections; ``at[n]`` runs once report n is in."""
    done = Counter[str]()
    lock = threading.Lock()

    def one(n: int) -> None:
        sender = f"reporter{n}.{tag}@example.net"
        _send_until_accepted(port, report(sender=f"R {n} <{sender}>", message_id=f"{tag}-{n}@example.net"), sender)
        with lock:
            done["sent"] += 1
            action = (at or {}).get(done["sent"])
        if action is not None:
            action()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(count)))


def _assert_exactly_once(stack: Stack, sink: Sink, count: int, *, doubles_allowed: int = 0) -> None:
    def settled() -> bool:
        unfinished = [OutboundState.QUEUED, OutboundState.SENDING, OutboundState.RETRY]
        try:
            return (
                stack.count(InboundMessage, InboundMessage.state == InboundState.RECEIVED) == 0
                and stack.count(OutboundMessage, OutboundMessage.state.in_(unfinished)) == 0  # type: ignore[attr-defined]
            )
        except OperationalError:  # the database is still on its way back
            stack.engine.dispose()
            return False

    stack.wait_until(settled, timeout=120, what="every message processed and every mail sent")
    assert stack.count(InboundMessage) == count  # stored once
    assert stack.count(InboundMessage, InboundMessage.state != InboundState.PROCESSED) == 0
    assert stack.count(Case) == count
    acks = [o for o in stack.outbound() if o.kind is OutboundKind.ACKNOWLEDGEMENT]
    assert len(acks) == count and {o.state for o in stack.outbound()} == {OutboundState.SENT}
    copies = Counter(sink.handler.message_ids())
    assert set(copies) == {f"<{o.message_id}>" for o in stack.outbound()}  # every mail arrived
    doubled = sum(n - 1 for n in copies.values())
    print(f"\n{count} reports, {len(copies)} mails at the smarthost, {doubled} of them twice")
    assert doubled <= doubles_allowed, f"{doubled} mail(s) arrived twice"


def test_postgres_restarted_and_its_connections_killed_mid_burst(
    tmp_path: Path, pg: PrivatePostgres, sink: Sink
) -> None:
    name, url = _database(pg)
    stack = Stack("private-postgres", tmp_path, url, "stub://")
    try:
        service = stack.start(_settings(stack, sink))

        # The 12th acknowledgement stops the database as the smarthost takes it: its outcome
        # cannot be saved until the database is back (2 s later), and is saved then, not resent.
        def outage(n: int) -> None:
            if n == 12:
                pg.stop("fast")
                threading.Timer(2.0, pg.start).start()

        sink.handler.on_message = outage
        at = {15: lambda: pg.kill_connections(name), 30: lambda: pg.restart(down_for=1.0)}
        _burst(lambda: service.smtp_port or 0, 45, "pg", at)
        _assert_exactly_once(stack, sink, 45)
    finally:
        stack.stop_all()


def test_the_smarthost_flapping(sqlite_stack: Stack, sink: Sink) -> None:
    """Refusing (451), dropping the connection before it stores, and down for a second."""

    def flap(server: Any, n: int) -> str | None:
        if n % 4 == 1:
            return "451 4.3.0 try again later"
        if n % 4 == 2:
            server.transport.close()  # dropped mid-transaction: nothing stored
            return "421 4.4.2 closing"
        return None

    sink.handler.before_store = flap
    service = sqlite_stack.start(_settings(sqlite_stack, sink, retry=0.05))

    def down_for_a_second() -> None:
        sink.stop()
        threading.Timer(1.0, sink.start).start()

    _burst(lambda: service.smtp_port or 0, 30, "flap", {10: down_for_a_second})
    _assert_exactly_once(sqlite_stack, sink, 30)


class Workers:
    """``dramatiq mailflow.worker`` (its own process manager), restarted when it exits, as
    systemd's Restart= does (workers/mailflow-worker@.service)."""

    def __init__(self, config: Path) -> None:
        self.env = {**os.environ, "MAILFLOW_CONFIG": str(config)}
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._keep_up, daemon=True)

    def start(self) -> Workers:
        self._spawn()
        self._watch.start()
        return self

    def _spawn(self) -> None:
        dramatiq = str(Path(sys.executable).parent / "dramatiq")
        self.process = subprocess.Popen(
            [dramatiq, "mailflow.worker", "--processes", "2", "--threads", "2"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def _keep_up(self) -> None:
        while not self._stop.wait(0.2):
            if self.process is not None and self.process.poll() is not None:
                self.restarts += 1
                self._spawn()

    def children(self) -> list[int]:
        assert self.process is not None
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []

    def kill_children(self) -> None:
        for pid in self.children():
            os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        self._stop.set()
        self._watch.join(timeout=5)
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def redis_server() -> Iterator[PrivateRedis]:
    server = PrivateRedis().start()
    yield server
    server.destroy()


@pytest.fixture
def rabbitmq_server() -> Iterator[PrivateRabbitmq]:
    server = PrivateRabbitmq().start()
    yield server
    server.destroy()


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_the_broker_restarted_mid_burst(
    request: pytest.FixtureRequest, broker: str, tmp_path: Path, pg: PrivatePostgres, sink: Sink
) -> None:
    server: PrivateRedis | PrivateRabbitmq = request.getfixturevalue(f"{broker}_server")
    _, url = _database(pg)
    stack = Stack(f"private-postgres+{broker}", tmp_path, url, server.url)
    settings = _settings(stack, sink, queue={"embedded_worker": False, "sweep_seconds": 0.5})
    workers = Workers(write_config(tmp_path / "mailflow.toml", settings))
    try:
        front = stack.start(settings)  # listeners and sweep
        workers.start()
        _burst(lambda: front.smtp_port or 0, 40, broker, {15: lambda: server.restart(down_for=1.0)})
        _assert_exactly_once(stack, sink, 40)
    finally:
        workers.stop()
        stack.stop_all()


def test_kill_9_of_the_front_end_and_of_the_workers_mid_batch(
    tmp_path: Path, pg: PrivatePostgres, redis_server: PrivateRedis, sink: Sink
) -> None:
    _, url = _database(pg)
    stack = Stack("private-postgres+redis", tmp_path, url, redis_server.url)
    port = free_port()
    settings = _settings(
        stack, sink, queue={"embedded_worker": False, "sweep_seconds": 0.5}, intake={"smtp_listen": f"127.0.0.1:{port}"}
    )
    config = write_config(tmp_path / "mailflow.toml", settings)
    workers = Workers(config).start()
    front = [_serve(config, port)]

    def kill_front_end() -> None:
        front[0].send_signal(signal.SIGKILL)
        front[0].wait()
        front[0] = _serve(config, port)

    def kill_workers(n: int) -> None:
        if n == 20:
            workers.kill_children()  # mid-batch: the 20th mail is in flight, others claimed

    sink.handler.on_message = kill_workers
    try:
        _burst(lambda: port, 50, "kill9", {25: kill_front_end})
        # Each worker process sends on its own connections (2 threads): at most the one mail in
        # flight per connection may arrive twice.
        _assert_exactly_once(stack, sink, 50, doubles_allowed=4)
        assert workers.restarts >= 1
    finally:
        workers.stop()
        front[0].send_signal(signal.SIGTERM)
        front[0].wait(timeout=60)
        stack.stop_all()
