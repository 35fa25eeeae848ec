"""Coverage-guided fuzzing of the inbound path (atheris, i.e. libFuzzer) for a fixed time budget.

The target is ``tests.hostile.target.read_inbound``: parse, classify, reply text, the sender
check, the gate's reading of every surface and the gate itself, on the fuzzer's bytes. The corpus
is seeded from ``../shared/corpus`` read in place (libFuzzer writes new inputs only to the first
corpus directory, which is ours, under the results directory); crashes, slow inputs and the log go
to ``benchmarks/results/fuzz/`` (git-ignored), and one line says what happened:

    .venv/bin/python benchmarks/fuzz_inbound.py [--seconds 300] [--corpus ../shared/corpus]

Exit status 1 when a crash was found. A crash becomes a test: copy the file it names into
``tests/hostile/crashes/`` (test_regressions.py replays every file there) and fix the cause.
Needs the ``fuzz`` extra (``pip install -e '.[fuzz]'``; ``make fuzz`` installs it).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "fuzz"
MAX_LEN = 256 * 1024  # bytes of an input; longer seeds are cut (the budget goes to many inputs, not a few big ones)


def child(argv: list[str]) -> None:
    """Inside the fuzzing process: instrument the inbound path, then hand over to libFuzzer."""
    import atheris

    sys.path.insert(0, str(ROOT))
    with atheris.instrument_imports(include=["mailflow", "email", "tests.hostile"]):
        from tests.hostile.target import read_inbound

    atheris.Setup([sys.argv[0], *argv], read_inbound)
    atheris.Fuzz()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=300, help="the time budget (default 300)")
    parser.add_argument(
        "--corpus", type=Path, default=ROOT.parent / "shared" / "corpus", help="seed corpus (read only)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory (default benchmarks/results/fuzz)")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child is not None:
        child(options.child)
        return 0

    run = time.strftime("%Y%m%d-%H%M%S")
    out: Path = options.out
    found, crashes, log = out / "corpus", out / "crashes", out / f"fuzz-{run}.log"
    found.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    seeds = [str(found)]
    if options.corpus.is_dir():
        seeds.append(str(options.corpus))
    before = set(crashes.iterdir())
    args = [
        *seeds,
        f"-max_total_time={options.seconds}",
        f"-max_len={MAX_LEN}",
        "-timeout=30",  # seconds one input may take: longer is a hang, saved as timeout-*
        "-rss_limit_mb=4096",
        f"-artifact_prefix={crashes}/",
        "-print_final_stats=1",
    ]
    started = time.monotonic()
    with log.open("wb") as sink:
        done = subprocess.run([sys.executable, __file__, "--child", *args], stdout=sink, stderr=subprocess.STDOUT)
    elapsed = time.monotonic() - started
    text = log.read_text(errors="replace")
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    new = sorted(set(crashes.iterdir()) - before)
    seeded = "seeded from " + str(options.corpus) if len(seeds) > 1 else "no seed corpus"
    line = (
        f"fuzz {run}: {elapsed:.0f} s, {runs[-1] if runs else '?'} inputs run, {seeded}, "
        f"{sum(1 for _ in found.iterdir())} in the corpus, {len(new)} crash(es)"
        + (": " + ", ".join(str(p) for p in new) if new else "")
        + f" (log {log})"
    )
    with (out / "report.txt").open("a") as report:
        report.write(line + "\n")
    print(line)
    return 1 if new or done.returncode not in (0,) else 0


if __name__ == "__main__":
    sys.exit(main())
