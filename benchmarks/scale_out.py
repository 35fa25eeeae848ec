"""Scale-out with PostgreSQL and Redis: two ``mailflow serve`` front ends (listeners and sweep
only) and 1, 2 and 4 ``dramatiq mailflow.worker`` processes, a committee of three, delivery to an
SMTP smarthost on loopback; reports of about 5 KB with an HTML alternative from a threaded
smtplib client per front end.

For each worker count: (b) the accept rate, (c) reports per second acknowledged at the smarthost,
and what the global threading lock (``database.lock_for_threading``, a PostgreSQL advisory lock
every processing transaction takes) costs: sampled every 50 ms, how many transactions were waiting
for it (mean), and in how many samples at least one was.

The PostgreSQL cluster and the Redis server are the benchmark's own (tests/support/private.py),
started and removed here: the shared servers are not touched.

    .venv/bin/python benchmarks/scale_out.py [--messages 1500] [--workers 1 2 4]

Not a test: timings belong here, never in the suite.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from benchmarks.as_users_run_it import CLIENT, generate  # noqa: E402
from benchmarks.intake_throughput import SINK, free_port, wait_port  # noqa: E402
from tests.support.private import PrivatePostgres, PrivateRedis  # noqa: E402

PYTHON = sys.executable


def config(directory: Path, name: str, db: str, redis: str, port: int, smarthost: int) -> Path:
    roster = "".join(
        f'[[committee.members]]\nname = "Member {i}"\naddresses = ["member{i}@committee.example"]\n'
        f'role = "{"chair" if i == 0 else "member"}"\n'
        for i in range(3)
    )
    path = directory / f"{name}.toml"
    path.write_text(
        f'[service]\ndata_dir = "{directory}"\nconduct_address = "conduct@example.org"\n'
        f'[database]\nurl = "{db}"\n'
        f'[queue]\nbroker_url = "{redis}"\nembedded_worker = false\n'
        f'[intake]\nsmtp_listen = "127.0.0.1:{port}"\nmax_connections_per_client = 1000\n'
        f'[outgoing]\ntransport = "smtp://127.0.0.1:{smarthost}"\nstarttls = false\n'
        "[acknowledgement]\nrate_limit_count = 1000000\n" + roster
    )
    return path


def run(pg: PrivatePostgres, redis: PrivateRedis, workers: int, total: int, corpus: list[Path]) -> dict[str, float]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    db = pg.database(name)
    plain = db.replace("postgresql+psycopg://", "postgresql://")
    subprocess.run(["redis-cli", "-p", str(redis.port), "flushall"], capture_output=True)  # its own server
    directory = Path(tempfile.mkdtemp(prefix="mailflow-scale-"))
    smarthost = free_port()
    sink = subprocess.Popen([PYTHON, "-c", SINK, str(smarthost)], stderr=subprocess.DEVNULL)
    ports = [free_port(), free_port()]
    configs = [config(directory, f"front{i}", db, redis.url, p, smarthost) for i, p in enumerate(ports)]
    env = {**os.environ, "MAILFLOW_CONFIG": str(configs[0])}
    fronts = []
    fronts.append(subprocess.Popen([PYTHON, "-m", "mailflow", "serve"], env=env, stderr=subprocess.DEVNULL))
    wait_port(ports[0], fronts[0])  # the first migrates
    env1 = {**os.environ, "MAILFLOW_CONFIG": str(configs[1])}
    fronts.append(subprocess.Popen([PYTHON, "-m", "mailflow", "serve"], env=env1, stderr=subprocess.DEVNULL))
    dramatiq = str(Path(PYTHON).parent / "dramatiq")
    worker = subprocess.Popen(
        [dramatiq, "mailflow.worker", "--processes", str(workers), "--threads", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    waiting: list[int] = []
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            while not stop.wait(0.05):
                row = conn.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                waiting.append(int(row[0]) if row else 0)

    try:
        wait_port(ports[1], fronts[1])
        wait_port(smarthost, sink)
        time.sleep(3)  # the workers connect
        sampler = threading.Thread(target=sample)
        sampler.start()
        start = time.perf_counter()
        clients = [
            subprocess.Popen(
                [PYTHON, "-c", CLIENT, str(port), str(total // 2), "10", str(half)],
                stdout=subprocess.PIPE,
            )
            for port, half in zip(ports, corpus, strict=True)
        ]
        for client in clients:
            client.wait()
        accepted = time.perf_counter() - start
        with psycopg.connect(plain, autocommit=True) as conn:
            while True:
                row = conn.execute(
                    "SELECT count(*) FROM outbound_message WHERE kind = 'acknowledgement' AND state = 'sent'"
                ).fetchone()
                if row and row[0] >= total // 2 * 2:
                    break
                if time.perf_counter() - start > 1200:
                    raise SystemExit("not every acknowledgement was sent in 20 minutes")
                time.sleep(0.2)
        acknowledged = time.perf_counter() - start
        stop.set()
        sampler.join()
    finally:
        stop.set()
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=120)
        for front in fronts:
            front.send_signal(signal.SIGTERM)
            front.wait(timeout=120)
        sink.terminate()
        sink.wait()
        shutil.rmtree(directory, ignore_errors=True)
    n = total // 2 * 2
    return {
        "b": n / accepted,
        "c": n / acknowledged,
        "lock_waiting_mean": statistics.fmean(waiting) if waiting else 0.0,
        "lock_contended": sum(1 for w in waiting if w) / len(waiting) if waiting else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1500)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    args = parser.parse_args()
    # One half of the reports for each front end (the same bytes twice would be stored once).
    whole = Path(tempfile.mkdtemp()) / "corpus.bin"
    size = generate(whole, args.messages)
    messages = whole.read_bytes().split(b"\0SPLIT\0")
    corpus = [whole.with_name("front0.bin"), whole.with_name("front1.bin")]
    for i, path in enumerate(corpus):
        path.write_bytes(b"\0SPLIT\0".join(messages[i::2]))
    pg = PrivatePostgres(fsync=True).start()
    redis = PrivateRedis().start()
    try:
        print(f"{args.messages} reports of {size} bytes, two front ends x 10 connections, PostgreSQL + Redis")
        for workers in args.workers:
            r = run(pg, redis, workers, args.messages, corpus)
            print(
                f"  {workers} worker process(es) x 2 threads: (b) accepted {r['b']:6.0f}/s   (c) acknowledged at the "
                f"smarthost {r['c']:6.0f}/s   threading lock: {r['lock_waiting_mean']:.2f} waiting on average, "
                f"contended in {r['lock_contended']:.0%} of samples",
                flush=True,
            )
    finally:
        redis.destroy()
        pg.destroy()


if __name__ == "__main__":
    main()
