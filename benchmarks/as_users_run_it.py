"""Throughput as users run it: the whole service, a committee of three, delivery to a real SMTP
smarthost, reports of about 5 KB with an HTML alternative, a threaded smtplib client (one thread
and one connection per concurrent sender) in a separate process.

  (a) a bare aiosmtpd server that accepts and discards (the ceiling);
  (b) ``mailflow serve``'s accept rate while it processes what it accepts (time to the last 250);
  (c) report to acknowledgement at the smarthost: time until every acknowledgement is recorded
      ``sent`` (the smarthost answered 250), with the committee's copies going out too;
  (b0) for comparison, the listener and durable spool alone (no processing), as in
      intake_throughput.py.

    .venv/bin/python benchmarks/as_users_run_it.py [--messages 1500] [--concurrency 10 50]
        [--worker-processes 2 0]

SQLite. Not a test: timings belong here, never in the suite.
"""

from __future__ import annotations

import argparse
import email.policy
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.intake_throughput import SINK, free_port, peak_rss_mb, wait_port  # noqa: E402

PYTHON = sys.executable

CLIENT = """
import json, smtplib, sys, threading, time
port, total, concurrency, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
messages = open(path, "rb").read().split(b"\\0SPLIT\\0")[:total]
def worker(k):
    with smtplib.SMTP("127.0.0.1", port, timeout=300) as client:
        for i in range(k, total, concurrency):
            client.sendmail(f"reporter{i}@example.net", ["conduct@example.org"], messages[i])
start = time.perf_counter()
threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"seconds": time.perf_counter() - start}))
"""

TEXT = (
    "Hello,\n\nI want to report what happened in the project chat on Tuesday. A participant repeatedly "
    "sent me private messages after I asked them to stop, and made remarks about my accent in the "
    "public channel. I have screenshots and can share them. Two other people saw it happen and told "
    "me they felt uncomfortable too.\n\n"
) * 6


def generate(path: Path, count: int) -> int:
    """Reports of about 5 KB: a plain part and an HTML alternative. Returns the mean size."""
    total = 0
    with open(path, "wb") as handle:
        for i in range(count):
            msg = EmailMessage()
            msg["From"] = f"Reporter {i} <reporter{i}@example.net>"
            msg["To"] = "conduct@example.org"
            msg["Subject"] = f"Report {i}: behaviour in the project chat"
            msg["Date"] = "Tue, 03 Nov 2026 10:00:00 +0000"
            msg["Message-ID"] = f"<report-{i}-{os.getpid()}@example.net>"
            msg.set_content(TEXT)
            paragraphs = "".join(f"<p>{p}</p>" for p in TEXT.split("\n\n") if p)
            msg.add_alternative(f"<html><body><div dir='ltr'>{paragraphs}</div></body></html>", subtype="html")
            raw = msg.as_bytes(policy=email.policy.SMTP)
            total += len(raw)
            if i:
                handle.write(b"\0SPLIT\0")
            handle.write(raw)
    return total // count


def run_client(port: int, total: int, concurrency: int, corpus: Path) -> float:
    out = subprocess.run(
        [PYTHON, "-c", CLIENT, str(port), str(total), str(concurrency), str(corpus)], capture_output=True, check=True
    )
    return float(json.loads(out.stdout)["seconds"])


def bench_sink(total: int, concurrency: int, corpus: Path) -> float:
    port = free_port()
    server = subprocess.Popen([PYTHON, "-c", SINK, str(port)], stderr=subprocess.PIPE)
    try:
        wait_port(port, server)
        return total / run_client(port, total, concurrency, corpus)
    finally:
        server.terminate()
        server.wait()


def write_config(directory: Path, port: int, smarthost: int, *, worker: bool, processes: int | None) -> Path:
    roster = "".join(
        f'[[committee.members]]\nname = "Member {i}"\naddresses = ["member{i}@committee.example"]\n'
        f'role = "{"chair" if i == 0 else "member"}"\n'
        for i in range(3)
    )
    config = directory / "bench.toml"
    config.write_text(
        f'[service]\ndata_dir = "{directory}"\nconduct_address = "conduct@example.org"\n'
        f"[queue]\nembedded_worker = {'true' if worker else 'false'}\nworker_threads = 4\n"
        + (f"worker_processes = {processes}\n" if processes is not None else "")
        + f'[intake]\nsmtp_listen = "127.0.0.1:{port}"\nmax_connections_per_client = 1000\n'
        f'[outgoing]\ntransport = "smtp://127.0.0.1:{smarthost}"\nstarttls = false\n'
        "[acknowledgement]\nrate_limit_count = 1000000\n" + roster
    )
    return config


def acks_sent(directory: Path) -> int:
    with sqlite3.connect(directory / "mailflow.sqlite3", timeout=30) as conn:
        row = conn.execute(
            "SELECT count(*) FROM outbound_message WHERE kind = 'acknowledgement' AND state = 'sent'"
        ).fetchone()
        return int(row[0])


def bench_service(
    total: int, concurrency: int, corpus: Path, *, processing: bool, processes: int | None
) -> tuple[float, float | None, float]:
    """(accept rate, acknowledgement rate or None, peak RSS MB of the serve process)."""
    directory = Path(tempfile.mkdtemp(prefix="mailflow-bench-"))
    smarthost = free_port()
    sink = subprocess.Popen([PYTHON, "-c", SINK, str(smarthost)], stderr=subprocess.PIPE)
    port = free_port()
    env = {
        **os.environ,
        "MAILFLOW_CONFIG": str(write_config(directory, port, smarthost, worker=processing, processes=processes)),
    }
    server = subprocess.Popen([PYTHON, "-m", "mailflow", "serve"], env=env, stderr=subprocess.PIPE)
    try:
        wait_port(smarthost, sink)
        wait_port(port, server)
        time.sleep(2)  # worker processes start
        start = time.perf_counter()
        seconds = run_client(port, total, concurrency, corpus)
        accept = total / seconds
        if not processing:
            return accept, None, peak_rss_mb(server.pid)
        while acks_sent(directory) < total:
            if time.perf_counter() - start > 1200:
                raise SystemExit("the acknowledgements did not all reach the smarthost in 20 minutes")
            time.sleep(0.1)
        return accept, total / (time.perf_counter() - start), peak_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
        sink.terminate()
        sink.wait()
        shutil.rmtree(directory, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument(
        "--worker-processes", type=int, nargs="+", default=[-1, 0], help="-1: the default (one per core)"
    )
    args = parser.parse_args()
    corpus = Path(tempfile.mkdtemp()) / "corpus.bin"
    size = generate(corpus, args.messages)
    print(f"{args.messages} reports of {size} bytes (plain + HTML), committee of 3, SMTP smarthost, SQLite")
    for concurrency in args.concurrency:
        a = bench_sink(args.messages, concurrency, corpus)
        b0, _, _ = bench_service(args.messages, concurrency, corpus, processing=False, processes=None)
        print(f"\n{concurrency} connections:\n  (a)  bare aiosmtpd                         {a:7.0f}/s")
        print(f"  (b0) listener + spool, no processing       {b0:7.0f}/s  b0/a {b0 / a:.2f}")
        for p in args.worker_processes:
            processes = None if p < 0 else p
            b, c, rss = bench_service(args.messages, concurrency, corpus, processing=True, processes=processes)
            where = "default worker processes" if processes is None else f"worker_processes = {processes}"
            assert c is not None
            print(
                f"  ({where}) (b) accepted {b:6.0f}/s  b/a {b / a:.2f}   (c) acknowledged at the smarthost "
                f"{c:6.0f}/s  c/a {c / a:.2f}   serve peak RSS {rss:.0f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
