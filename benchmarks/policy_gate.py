"""The policy gate over real mail: how fast it judges, and how often it holds mail it should not.

Every message of the shared corpus (clients, charsets, broken MIME, bounces, a list month: about
1,000 mails, from a few hundred bytes to megabytes) is judged as if a member relayed it to an
outside party on a case with two protected people (a reporter and a harmed person, with name
forms, addresses, aliases and a report of about 2 KB each) and a reported person withheld.
None of those people appear in the corpus, so every hold is a false hold: the script prints
them, by rule and surface, for a human to look at.

    .venv/bin/python benchmarks/policy_gate.py [--repeat 3]

Prints mails per second, MB per second, the per-mail latency (median, 95th percentile, worst,
and the slowest mail), the false holds and the peak memory (VmHWM). Not a test: timings belong
here, never in the suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mailflow.policy.exposure import Identity  # noqa: E402
from mailflow.policy.gate import evaluate  # noqa: E402
from mailflow.policy.outgoing import Decision, Outgoing, Protected, Recipient  # noqa: E402
from tests.support.corpus_messages import all_messages  # noqa: E402

REPORT = (
    "On the evening of the community call I received a series of direct messages from a "
    "participant after I disagreed with a proposal on the tracker. The messages continued for "
    "three days across two platforms, questioned whether I belonged in the project, and referred "
    "to my accent and to where I live. I have kept screenshots of every message with their "
    "timestamps and can share them with the committee. Two other contributors saw the public "
    "part of the exchange in the meeting channel and said they were willing to talk to you. "
) * 4

PROTECTED = (
    Protected(
        Identity(
            "reporter #1",
            names=("Marisol Q. Vantongeren", "Vantongeren, Marisol", "M. Vantongeren"),
            addresses=("marisol.vantongeren@example.net", "mqv@users.example.org"),
            aliases=("@mqvantongeren", "marisolqv"),
        ),
        texts=(("report 1", REPORT),),
    ),
    Protected(
        Identity(
            "harmed person #1",
            names=("Teodoro Ashworth-Lindqvist", "T. Ashworth-Lindqvist"),
            addresses=("teo.al@example.com",),
            aliases=("@teoal",),
        ),
        texts=(("message 2", REPORT[::-1]),),
    ),
)
WITHHELD = (Identity("reported person #1", names=("Bartholomew Quennell",), addresses=("bq@example.org",)),)
OUTSIDE = (Recipient("witness@elsewhere.example", "A Witness"),)
INSIDERS = frozenset({"conduct@example.org", "ada@example.org"})


def judge(raw: bytes) -> tuple[float, Decision]:
    outgoing = Outgoing(
        raw=raw,
        top_text="",
        recipients=OUTSIDE,
        previous=OUTSIDE,
        protected=PROTECTED,
        withheld=WITHHELD,
        insiders=INSIDERS,
    )
    start = time.perf_counter()
    decision = evaluate(outgoing)
    return time.perf_counter() - start, decision


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes over the corpus (the best is reported)")
    args = parser.parse_args()

    messages = all_messages()
    total_bytes = sum(len(m.raw) for m in messages)
    print(f"{len(messages)} corpus messages, {total_bytes / 1e6:.1f} MB")

    best: list[float] | None = None
    held: dict[str, Decision] = {}
    for _ in range(max(1, args.repeat)):
        times: list[float] = []
        for message in messages:
            elapsed, decision = judge(message.raw)
            times.append(elapsed)
            if not decision.allowed:
                held[message.name] = decision
        if best is None or sum(times) < sum(best):
            best = times
    assert best is not None

    wall = sum(best)
    ordered = sorted(best)
    slowest = max(range(len(best)), key=best.__getitem__)
    print(f"gate: {len(messages) / wall:,.0f} mails/s, {total_bytes / 1e6 / wall:.1f} MB/s")
    print(
        f"per mail: median {statistics.median(ordered) * 1e3:.2f} ms, "
        f"p95 {ordered[int(0.95 * (len(ordered) - 1))] * 1e3:.2f} ms, "
        f"worst {ordered[-1] * 1e3:.1f} ms ({messages[slowest].name}, {len(messages[slowest].raw):,} bytes)"
    )
    # A hold for a part the gate cannot read (an image, an encrypted part, an unknown format) is the
    # fail-closed rule doing its job, not a false hold: counted apart.
    false = {n: d for n, d in held.items() if any(v.rule != "unread-part" for v in d.violations)}
    unread = {n: d for n, d in held.items() if n not in false}
    reasons = Counter(v.rule + ": " + v.summary for d in false.values() for v in d.violations)
    print(f"false holds: {len(false)} of {len(messages)}")
    for name in sorted(false):
        print(f"  {name}")
    for reason, count in reasons.most_common():
        print(f"  {count} x {reason}")
    unread_reasons = Counter(v.summary for d in unread.values() for v in d.violations)
    print(f"held for a part that cannot be read to the end (fail closed, by design): {len(unread)}")
    for reason, count in unread_reasons.most_common(12):
        print(f"  {count} x {reason}")
    print(f"peak memory (VmHWM): {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
