"""Intake throughput, in one run: messages per second over SMTP on loopback for

  (a) a bare aiosmtpd server that accepts and discards (the ceiling),
  (b) mailflow's listener with the durable spool (250 only after the commit; no processing),
  (c) the whole path: spool, parse, thread, record, and the acknowledgement drafted into the outbox,

each at 10 and 50 concurrent connections, with the client in a separate process. Prints the rates,
the ratios b/a and c/a, and the peak memory (VmHWM) of ``mailflow serve``. With ``--encrypted``,
(b) and (c) run a second time with encryption at rest on ([storage], a fresh key), and the cost is
printed as the ratio of the two rates.

    .venv/bin/python benchmarks/intake_throughput.py [--messages 3000] [--database URL] [--encrypted]

Not a test: timings belong here, never in the suite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

SINK = """
import asyncio, sys
from aiosmtpd.smtp import SMTP
class Discard:
    async def handle_DATA(self, server, session, envelope):
        return "250 OK"
async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Discard()), "127.0.0.1", int(sys.argv[1]))
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""

CLIENT = """
import asyncio, json, sys, time
import aiosmtplib
port, total, concurrency, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
messages = open(path, "rb").read().split(b"\\0SPLIT\\0")[:total]
async def worker(k):
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=120)
    await client.connect()
    for i in range(k, total, concurrency):
        await client.sendmail(f"reporter{i}@example.net", ["conduct@example.org"], messages[i])
    await client.quit()
async def main():
    start = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    print(json.dumps({"seconds": time.perf_counter() - start, "started": start}))
asyncio.run(main())
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if process.poll() is not None:
            raise SystemExit(f"server exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def generate(path: Path, count: int) -> None:
    body = (
        "Hello,\r\n\r\nI want to report what happened in the project chat on Tuesday. A participant\r\n"
        "repeatedly sent me private messages after I asked them to stop, and made remarks about my\r\n"
        "accent in the public channel. I have screenshots and can share them.\r\n\r\n"
        "Thank you for looking into this.\r\n\r\nReporter\r\n"
    ) * 3
    with open(path, "wb") as handle:
        for i in range(count):
            if i:
                handle.write(b"\0SPLIT\0")
            handle.write(
                (
                    f"From: Reporter {i} <reporter{i}@example.net>\r\nTo: conduct@example.org\r\n"
                    f"Subject: Report {i}: behaviour in the project chat\r\n"
                    f"Date: Tue, 03 Nov 2026 10:00:00 +0000\r\nMessage-ID: <bench-{i}-{os.getpid()}@example.net>\r\n"
                    "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
                ).encode()
            )


def run_client(port: int, total: int, concurrency: int, corpus: Path) -> tuple[float, float]:
    out = subprocess.run(
        [PYTHON, "-c", CLIENT, str(port), str(total), str(concurrency), str(corpus)],
        capture_output=True,
        check=True,
    )
    result = json.loads(out.stdout)
    return result["seconds"], result["started"]


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Result:
    name: str
    concurrency: int
    rate: float
    rss_mb: float | None = None


def bench_sink(total: int, concurrency: int, corpus: Path) -> Result:
    port = free_port()
    server = subprocess.Popen([PYTHON, "-c", SINK, str(port)], stderr=subprocess.PIPE)
    try:
        wait_port(port, server)
        seconds, _ = run_client(port, total, concurrency, corpus)
    finally:
        server.terminate()
        server.wait()
    return Result("a bare aiosmtpd", concurrency, total / seconds)


COMMITTEE = 0  # members on the roster (--committee): each report is then also fanned out to them


def write_config(
    directory: Path, port: int, *, worker: bool, database: str | None, processes: int = 0, encrypted: bool = False
) -> Path:
    config = directory / "bench.toml"
    storage = ""
    if encrypted:
        from mailflow.crypt.keyring import new_key

        keys = directory / "bench.keys"
        keys.write_text(new_key() + "\n")
        storage = f'[storage]\nencryption_key_file = "{keys}"\n'

    db = f'url = "{database}"\n' if database else ""
    roster = "".join(
        f'[[committee.members]]\nname = "Member {i}"\naddresses = ["member{i}@committee.example"]\n'
        f'role = "{"chair" if i == 0 else "member"}"\n'
        for i in range(COMMITTEE)
    )
    config.write_text(
        f'[service]\ndata_dir = "{directory}"\nconduct_address = "conduct@example.org"\n'
        f"[database]\n{db}"
        f"[queue]\nembedded_worker = {'true' if worker else 'false'}\nworker_threads = 4\n"
        f"worker_processes = {processes}\n"
        f'[intake]\nsmtp_listen = "127.0.0.1:{port}"\n'
        # Every benchmark connection comes from 127.0.0.1: lift the per-client limit (20).
        "max_connections_per_client = 1000\n"
        f'[outgoing]\ntransport = "maildir:{directory}/outgoing"\n'
        "[acknowledgement]\nrate_limit_count = 1000000\n" + storage + roster
    )
    return config


def count_acks(directory: Path, database: str | None) -> int:
    if database:
        import psycopg

        with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")) as conn:
            row = conn.execute("SELECT count(*) FROM outbound_message WHERE kind = 'acknowledgement'").fetchone()
            return int(row[0]) if row else 0
    with sqlite3.connect(directory / "mailflow.sqlite3", timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM outbound_message WHERE kind = 'acknowledgement'").fetchone()[0])


def bench_mailflow(
    total: int,
    concurrency: int,
    corpus: Path,
    *,
    full_path: bool,
    database: str | None,
    processes: int = 0,
    encrypted: bool = False,
) -> Result:
    directory = Path(tempfile.mkdtemp(prefix="mailflow-bench-"))
    port = free_port()
    config = write_config(
        directory, port, worker=full_path, database=database, processes=processes, encrypted=encrypted
    )
    sealed = " [encrypted]" if encrypted else ""
    env = {**os.environ, "MAILFLOW_CONFIG": str(config)}
    if database:
        _reset_postgres(database)
    server = subprocess.Popen(
        [PYTHON, "-m", "mailflow", "serve"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    try:
        wait_port(port, server)
        if not full_path:
            seconds, _ = run_client(port, total, concurrency, corpus)
            name = "b mailflow listener + durable spool" + sealed
            return Result(name, concurrency, total / seconds, peak_rss_mb(server.pid))
        start = time.perf_counter()
        run_client(port, total, concurrency, corpus)
        while count_acks(directory, database) < total:
            if time.perf_counter() - start > 900:
                raise SystemExit("the acknowledgements did not all arrive in 15 minutes")
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        name = "c whole path to the acknowledgement" + (f" ({processes} worker processes)" if processes else "")
        name += sealed
        return Result(name, concurrency, total / seconds, peak_rss_mb(server.pid))
    finally:
        server.terminate()
        server.wait(timeout=120)
        shutil.rmtree(directory, ignore_errors=True)


def _reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[10, 50])
    parser.add_argument("--database", default=None, help="a postgresql+psycopg:// URL (default: SQLite)")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--committee", type=int, default=0, help="roster size: also fan each report out (c)")
    parser.add_argument(
        "--worker-processes", type=int, nargs="+", default=[0, 2], help="(c) with these [queue] worker_processes"
    )
    parser.add_argument(
        "--encrypted", action="store_true", help="also run (b) and (c) with encryption at rest on, and compare"
    )
    args = parser.parse_args()
    global COMMITTEE
    COMMITTEE = args.committee

    corpus = Path(tempfile.mkdtemp()) / "corpus.bin"
    generate(corpus, args.messages)
    results: list[Result] = []
    variants = [False, True] if args.encrypted else [False]
    for concurrency in args.concurrency:
        a = bench_sink(args.messages, concurrency, corpus)
        runs: dict[bool, tuple[Result, list[Result]]] = {}
        for encrypted in variants:
            b = bench_mailflow(
                args.messages, concurrency, corpus, full_path=False, database=args.database, encrypted=encrypted
            )
            cs = [
                bench_mailflow(
                    args.messages, concurrency, corpus, full_path=True, database=args.database, processes=p,
                    encrypted=encrypted,
                )
                for p in args.worker_processes
            ]  # fmt: skip
            runs[encrypted] = (b, cs)
            results += [b, *cs]
        results.append(a)
        print(f"\n{args.messages} messages, {concurrency} connections ({args.database or 'SQLite'}):")
        for r in (a, *(x for b, cs in runs.values() for x in (b, *cs))):
            memory = f"   peak RSS {r.rss_mb:.0f} MB (serve process)" if r.rss_mb else ""
            print(f"  {r.name:70s} {r.rate:8.0f} msg/s{memory}")
        for b, cs in runs.values():
            print(f"  b/a = {b.rate / a.rate:.2f}   " + "   ".join(f"c/a = {c.rate / a.rate:.2f}" for c in cs))
        if args.encrypted:
            (plain_b, plain_cs), (sealed_b, sealed_cs) = runs[False], runs[True]
            pairs = [(plain_b, sealed_b), *zip(plain_cs, sealed_cs, strict=True)]
            print("  encrypted / plain: " + "   ".join(f"{s.rate / p.rate:.2f}" for p, s in pairs))
    if args.json:
        args.json.write_text(json.dumps([r.__dict__ for r in results], indent=2))


if __name__ == "__main__":
    main()
