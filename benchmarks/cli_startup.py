"""How long a ``mailflow`` command takes to start and how much memory it takes, as an operator runs it.

Each command runs as its own process (``.venv/bin/mailflow``, the installed entry point) several
times on a throw-away SQLite data directory holding ``--cases`` cases; the script prints the wall
time (median and best of the runs) and the peak resident memory of each, and, with
``--importtime``, the modules that cost the most to import for each command (``python -X importtime``).

    .venv/bin/python benchmarks/cli_startup.py [--runs 7] [--cases 150] [--importtime] [--source DIR]

``--source DIR`` times another checkout's ``mailflow`` package (an older commit unpacked with
``git archive``) with the same interpreter and data, for a before/after comparison.

Not a test: timings belong here, never in the suite (the machine is shared: compare medians).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MAILFLOW = [sys.executable, "-m", "mailflow"]

COMMANDS: list[tuple[str, list[str]]] = [
    ("mailflow --help", ["--help"]),
    ("mailflow cases --help", ["cases", "--help"]),
    ("mailflow cases list", ["cases", "list"]),
    ("mailflow cases list --json", ["cases", "list", "--json"]),
    ("mailflow outbox list", ["outbox", "list"]),
    ("mailflow quarantine list", ["quarantine", "list"]),
    ("mailflow drafts list", ["drafts", "list"]),
    ("mailflow held list", ["held", "list"]),
    ("mailflow status", ["status"]),
]


def seed(data: Path, cases: int) -> Path:
    """A data directory with ``cases`` reports processed through the real pipeline (nothing sent)."""
    from mailflow.config import settings_from_mapping
    from mailflow.inbound.spool import Envelope, Spool
    from mailflow.model import InboundSource
    from mailflow.pipeline import process_batch
    from mailflow.runtime import Runtime

    config = data / "mailflow.toml"
    config.write_text(f'[service]\ndata_dir = "{data}"\n\n[outgoing]\ntransport = "maildir:{data / "out"}"\n')
    settings = settings_from_mapping(
        {"service": {"data_dir": str(data)}, "outgoing": {"transport": f"maildir:{data / 'out'}"}}
    )
    runtime = Runtime.build(settings)
    try:
        spool = Spool(runtime.engine)
        envelope = Envelope(InboundSource.PIPE, "someone@example.net", ("conduct@example.org",))
        ids = []
        for n in range(cases):
            raw = (
                f"From: Reporter {n} <r{n}@example.net>\r\nTo: conduct@example.org\r\n"
                f"Subject: Report {n}\r\nMessage-ID: <bench-{n}@example.net>\r\n\r\nWhat happened, {n}.\r\n"
            ).encode()
            ids.append(spool.accept(raw, envelope).inbound_id)
        for start in range(0, len(ids), 50):
            process_batch(runtime.services, ids[start : start + 50])
    finally:
        runtime.close()
    return config


SOURCE: Path | None = None


def _env(config: Path) -> dict[str, str]:
    env = {**os.environ, "MAILFLOW_CONFIG": str(config)}
    if SOURCE is not None:
        env["PYTHONPATH"] = str(SOURCE)
    return env


def run(args: list[str], config: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one run."""
    env = _env(config)
    started = time.perf_counter()
    child = subprocess.Popen(
        [*MAILFLOW, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=config.parent
    )
    _, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss


def heaviest_imports(args: list[str], config: Path, top: int = 6) -> list[tuple[str, float]]:
    """The top-level imports that cost the most (cumulative), from ``python -X importtime``."""
    env = _env(config)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "mailflow", *args],
        capture_output=True,
        env=env,
        check=False,
        cwd=config.parent,  # not this checkout: ``-m`` puts the working directory first on the path
    )
    found: dict[str, float] = {}
    for line in done.stderr.decode(errors="replace").splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)", line)
        if match and len(match.group(2)) <= 2:  # imported by the program itself, or one level down
            found[match.group(3)] = max(found.get(match.group(3), 0.0), int(match.group(1)) / 1e6)
    return sorted(found.items(), key=lambda item: -item[1])[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cases", type=int, default=150)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument("--seed-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, help="time the mailflow package in this directory instead")
    options = parser.parse_args()
    global SOURCE
    SOURCE = options.source
    if options.seed_into:
        seed(options.seed_into, options.cases)
        return
    with tempfile.TemporaryDirectory(prefix="mailflow-cli-") as tmp:
        # Seeded by a child: this process stays small, so a child's peak RSS is its own (a forked
        # child starts from its parent's figure, and exec keeps it).
        subprocess.run([sys.executable, __file__, "--cases", str(options.cases), "--seed-into", tmp], check=True)
        config = Path(tmp) / "mailflow.toml"
        run(["cases", "list"], config)  # warm the file cache once
        which = f"mailflow from {SOURCE}" if SOURCE else "this checkout"
        print(f"{which}: {options.runs} runs each, {options.cases} cases, load average {os.getloadavg()[0]:.2f}")
        print(f"{'command':<30} {'median':>8} {'best':>8} {'peak RSS':>10}")
        for label, args in COMMANDS:
            results = [run(args, config) for _ in range(options.runs)]
            times = [elapsed for elapsed, _ in results]
            peak = max(rss for _, rss in results)
            print(f"{label:<30} {statistics.median(times):>7.2f}s {min(times):>7.2f}s {peak / 1024:>8.0f} MB")
            if options.importtime:
                for module, seconds in heaviest_imports(args, config):
                    print(f"{'':<4}{module:<40} {seconds:.3f}s")


if __name__ == "__main__":
    main()
