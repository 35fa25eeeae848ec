"""Doubled mail after crashes, measured: 600 reports from distinct senders over 4 connections
(a client that retries as an MTA does), ``mailflow serve`` (SQLite, its default embedded worker
processes, a committee of three, delivery to an SMTP smarthost on loopback) killed with SIGKILL,
with its worker processes, six times mid-stream and restarted at once. Counts, at the smarthost,
the mails that arrived more than once (by Message-ID), acknowledgements and committee copies.

Since each delivery's outcome is committed as the smarthost answers, a kill can double at most the
mail in flight on each smarthost connection (one per worker thread).

    .venv/bin/python benchmarks/crash_doubles.py [--reports 600] [--kills 6]

Not a test: the suite has the short deterministic version (tests/e2e/test_delivery_outcomes.py).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.canary_latency import write_config  # noqa: E402
from benchmarks.intake_throughput import free_port  # noqa: E402

_MESSAGE_ID = re.compile(rb"^Message-ID:\s*<([^>]+)>", re.MULTILINE | re.IGNORECASE)
_AUTO = re.compile(rb"^Auto-Submitted: auto-replied", re.MULTILINE | re.IGNORECASE)


class Smarthost:
    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()
        self.acks: Counter[str] = Counter()
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        data = envelope.original_content
        match = _MESSAGE_ID.search(data)
        with self.lock:
            if match:
                self.seen[match.group(1).decode()] += 1
                if _AUTO.search(data):
                    self.acks[match.group(1).decode()] += 1
        return "250 2.0.0 Ok"


def report(n: int) -> bytes:
    return (
        f"From: Reporter {n} <reporter{n}@example.net>\r\nTo: conduct@example.org\r\nSubject: Report {n}\r\n"
        f"Message-ID: <crash-{n}-{os.getpid()}@example.net>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "Yesterday a participant kept sending me private messages after I asked them to stop.\r\n"
    ).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reports", type=int, default=600)
    parser.add_argument("--kills", type=int, default=6)
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="mailflow-crash-"))
    handler = Smarthost()
    sink_port = free_port()
    sink = Controller(handler, hostname="127.0.0.1", port=sink_port)
    sink.start()
    port = free_port()
    config = write_config(directory, port, sink_port, 2)
    env = {**os.environ, "MAILFLOW_CONFIG": str(config)}
    serve: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        # A session of its own: kill -9 of the group is the whole service crashing (as systemd's
        # control group would be), worker processes included.
        serve.append(
            subprocess.Popen(
                [sys.executable, "-m", "mailflow", "serve"], env=env, stderr=subprocess.DEVNULL, start_new_session=True
            )
        )

    accepted = [0]
    lock = threading.Lock()
    kill_at = {args.reports * (k + 1) // (args.kills + 1) for k in range(args.kills)}

    def send(n: int) -> None:
        raw = report(n)
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
                    client.sendmail(f"reporter{n}@example.net", ["conduct@example.org"], raw)
                break
            except (OSError, smtplib.SMTPException):
                time.sleep(0.2)
        with lock:
            accepted[0] += 1
            kill = accepted[0] in kill_at
        if kill:
            os.killpg(serve[-1].pid, signal.SIGKILL)
            serve[-1].wait()
            start()

    def connection(k: int) -> None:
        for n in range(k, args.reports, 4):
            send(n)

    start()
    time.sleep(3)
    began = time.perf_counter()
    threads = [threading.Thread(target=connection, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    database = directory / "mailflow.sqlite3"
    while True:
        with sqlite3.connect(database, timeout=30) as conn:
            sent, unfinished = conn.execute(
                "SELECT sum(kind = 'acknowledgement' AND state = 'sent'), "
                "sum(state IN ('queued', 'sending', 'retry')) FROM outbound_message"
            ).fetchone()
            received = conn.execute("SELECT count(*) FROM inbound_message WHERE state = 'received'").fetchone()[0]
        if (sent or 0) >= args.reports and not unfinished and not received:
            break
        if time.perf_counter() - began > 900:
            raise SystemExit(f"unfinished after 15 minutes: {sent} acknowledgements sent")
        time.sleep(0.5)
    with sqlite3.connect(database, timeout=30) as conn:
        stored = conn.execute("SELECT count(*) FROM inbound_message").fetchone()[0]
        cases = conn.execute("SELECT count(*) FROM cases").fetchone()[0]
    os.killpg(serve[-1].pid, signal.SIGTERM)
    serve[-1].wait(timeout=120)
    sink.stop()
    shutil.rmtree(directory, ignore_errors=True)
    doubled = {mid: n for mid, n in handler.seen.items() if n > 1}
    acks_doubled = sum(1 for n in handler.acks.values() if n > 1)
    print(
        f"{args.reports} reports, {args.kills} kills: {stored} stored, {cases} cases, {len(handler.acks)} reporters "
        f"acknowledged, {acks_doubled} of them twice; {len(handler.seen)} mails at the smarthost, "
        f"{len(doubled)} arrived more than once ({sum(doubled.values()) - len(doubled)} extra copies)"
    )


if __name__ == "__main__":
    main()
