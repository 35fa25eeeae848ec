"""Head-of-line blocking: the latency of an ordinary report's acknowledgement while hostile mail
is being read.

``mailflow serve`` (SQLite, a committee of three, delivery to a real SMTP smarthost on loopback)
receives, for ``--seconds``, a canary report every second from a distinct sender, and every
``--hostile-every`` seconds a burst of ``--hostile-burst`` hostile messages (5 MB of HTML, each
some seconds of reading; over ``message_time_limit_seconds`` they are recorded as too complex to
read). For each canary: the time of its SMTP transaction (the listener's answer) and the time from
its 250 to its acknowledgement arriving at the smarthost. Run once with the embedded worker in
child processes (the default) and once with threads inside the serve process.

    .venv/bin/python benchmarks/canary_latency.py [--seconds 60] [--worker-processes 2 0]

Not a test: timings belong here, never in the suite.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.intake_throughput import free_port, wait_port  # noqa: E402

_IN_REPLY_TO = re.compile(rb"^In-Reply-To:\s*<([^>]+)>", re.MULTILINE | re.IGNORECASE)


class Smarthost:
    """Records when each acknowledgement (by the Message-ID it answers) arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.count = 0
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        match = _IN_REPLY_TO.search(envelope.original_content)
        with self.lock:
            self.count += 1
            if match:
                self.arrived.setdefault(match.group(1).decode(), now)
        return "250 2.0.0 Ok"


def hostile(n: int, size_mb: float) -> bytes:
    line = "<div><p class='a'>word &amp; <b>bold</b> <!-- c --> text</p></div>\r\n"
    html = line * int(size_mb * 1024 * 1024 / len(line))
    return (
        f"From: Hostile {n} <hostile{n}@example.net>\r\nTo: conduct@example.org\r\nSubject: look {n}\r\n"
        f"Message-ID: <hostile-{n}-{os.getpid()}@example.net>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + html
    ).encode()


def canary(n: int) -> tuple[str, bytes]:
    mid = f"canary-{n}-{os.getpid()}@example.net"
    raw = (
        f"From: Canary {n} <canary{n}@example.net>\r\nTo: conduct@example.org\r\nSubject: Report {n}\r\n"
        f"Message-ID: <{mid}>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Yesterday a participant kept sending me private messages after I asked them to stop.\r\n"
    ).encode()
    return mid, raw


def write_config(directory: Path, port: int, smarthost: int, processes: int) -> Path:
    roster = "".join(
        f'[[committee.members]]\nname = "Member {i}"\naddresses = ["member{i}@committee.example"]\n'
        f'role = "{"chair" if i == 0 else "member"}"\n'
        for i in range(3)
    )
    config = directory / "canary.toml"
    config.write_text(
        f'[service]\ndata_dir = "{directory}"\nconduct_address = "conduct@example.org"\n'
        f"[queue]\nworker_threads = 4\nworker_processes = {processes}\nmessage_time_limit_seconds = 10\n"
        f'[intake]\nsmtp_listen = "127.0.0.1:{port}"\nmax_connections_per_client = 1000\n'
        f'[outgoing]\ntransport = "smtp://127.0.0.1:{smarthost}"\nstarttls = false\n'
        "[acknowledgement]\nrate_limit_count = 1000000\n" + roster
    )
    return config


def run(processes: int, seconds: float, every: float, burst: int, size_mb: float) -> dict[str, Any]:
    directory = Path(tempfile.mkdtemp(prefix="mailflow-canary-"))
    handler = Smarthost()
    sink_port = free_port()
    sink = Controller(handler, hostname="127.0.0.1", port=sink_port)
    sink.start()
    port = free_port()
    env = {**os.environ, "MAILFLOW_CONFIG": str(write_config(directory, port, sink_port, processes))}
    server = subprocess.Popen([sys.executable, "-m", "mailflow", "serve"], env=env, stderr=subprocess.DEVNULL)
    sent: dict[str, tuple[float, float]] = {}  # Message-ID -> (250 at, SMTP transaction seconds)
    stop = threading.Event()
    hostile_sent = [0]
    try:
        wait_port(port, server)
        time.sleep(3)  # the worker processes start

        def hostile_stream() -> None:
            n = 0
            while not stop.is_set():
                threads = []
                for _ in range(burst):
                    raw = hostile(n, size_mb)
                    n += 1

                    def send(raw: bytes = raw) -> None:
                        with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
                            client.sendmail("hostile@example.net", ["conduct@example.org"], raw)
                        hostile_sent[0] += 1

                    threads.append(threading.Thread(target=send))
                    threads[-1].start()
                for thread in threads:
                    thread.join()
                stop.wait(every)

        stream = threading.Thread(target=hostile_stream)
        stream.start()
        start = time.perf_counter()
        n = 0
        while time.perf_counter() - start < seconds:
            mid, raw = canary(n)
            began = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
                client.sendmail(f"canary{n}@example.net", ["conduct@example.org"], raw)
            done = time.perf_counter()
            sent[mid] = (done, done - began)
            n += 1
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - began)))
        stop.set()
        stream.join()
        deadline = time.perf_counter() + 300
        while time.perf_counter() < deadline and not all(mid in handler.arrived for mid in sent):
            time.sleep(0.2)
    finally:
        stop.set()
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        sink.stop()
        shutil.rmtree(directory, ignore_errors=True)
    latencies = sorted(handler.arrived[mid] - at for mid, (at, _) in sent.items() if mid in handler.arrived)
    smtp = sorted(took for _, took in sent.values())
    return {
        "processes": processes,
        "canaries": len(sent),
        "acknowledged": len(latencies),
        "hostile": hostile_sent[0],
        "ack_median": statistics.median(latencies) if latencies else float("nan"),
        "ack_p95": latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan"),
        "ack_max": latencies[-1] if latencies else float("nan"),
        "smtp_median": statistics.median(smtp),
        "smtp_max": smtp[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--hostile-every", type=float, default=12, help="seconds between bursts")
    parser.add_argument("--hostile-burst", type=int, default=4)
    parser.add_argument("--hostile-mb", type=float, default=5)
    parser.add_argument("--worker-processes", type=int, nargs="+", default=[2, 0])
    args = parser.parse_args()
    for processes in args.worker_processes:
        r = run(processes, args.seconds, args.hostile_every, args.hostile_burst, args.hostile_mb)
        where = f"{processes} worker processes" if processes else "threads in the serve process"
        print(
            f"{where}: {r['canaries']} canaries ({r['acknowledged']} acknowledged) beside {r['hostile']} hostile "
            f"messages; 250 -> acknowledgement at the smarthost: median {r['ack_median']:.2f} s, "
            f"p95 {r['ack_p95']:.2f} s, max {r['ack_max']:.2f} s; canary SMTP transaction: median "
            f"{r['smtp_median'] * 1000:.0f} ms, max {r['smtp_max'] * 1000:.0f} ms",
            flush=True,
        )


if __name__ == "__main__":
    main()
