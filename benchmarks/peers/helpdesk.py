"""Mailflow against a peer, django-helpdesk, on the same generated corpus: messages per second from
a message lying in a local directory to a ticket (a case) whose acknowledgement to the reporter is
composed and handed to the mail backend.

* **django-helpdesk**: installed from the package index into a throw-away virtualenv, a minimal
  Django project (SQLite, one Queue with ``email_box_type = 'local'`` reading the directory), and
  its ``get_email`` management command (``call_command("get_email")``, the code ``manage.py
  get_email`` runs) timed in its process. It creates a Ticket and a FollowUp per message, keeps
  the HTML alternative as an attachment, deletes each file once processed, and sends the
  ``newticket_submitter`` acknowledgement through Django's ``EMAIL_BACKEND``. Run twice: with
  Django's SQLite defaults (rollback journal, synchronous=FULL), as a user gets it, and with WAL
  and synchronous=NORMAL, the journal Mailflow's engine uses.
* **Mailflow** (this checkout, the project's virtualenv): each file is read and stored in the
  spool (``Spool.accept``: one durable commit, as ``mailflow ingest`` does), deleted, and
  processed with ``Runtime.process_now``: parse, classify, a case, its diary, the acknowledgement
  composed in the outbox and handed to the transport. Run twice: one message at a time (process
  after each store, as the pipe does, without its process start-up) and in batches of 200 (store
  all, then process, as ``mailflow serve``'s worker does a backlog).

Acknowledgements go to memory by default (django-helpdesk: Django's locmem backend; Mailflow: a
transport that discards), or with ``--transport smtp`` to an aiosmtpd sink on loopback that
discards (django-helpdesk opens a connection per mail; Mailflow one per ``process_now`` call). Each side then
counts what it made (tickets/cases, acknowledgements recorded as delivered), so that the rate is
of work done. Printed: the rates (in-process, and with the process start-up), the ratios
Mailflow / django-helpdesk, the versions, N and the load average before and after (2 shared
cores: compare ratios, not rates).

    /work/main/.venv/bin/python benchmarks/peers/helpdesk.py [--messages 500] [--keep]
        [--helpdesk-version '>=2.6.1,<2.7'] [--corpus html|plain] [--transport memory|smtp] [--repeat 1]

Needs only the package index (pip) and ``python -m venv``; django-helpdesk and its dependencies
are pure-Python wheels (no system packages). ``--keep`` keeps the virtualenv in
benchmarks/results/peers/ (git-ignored) for reruns. Not a test: timings belong here, never in the
suite (pytest collects only tests/; ``make test`` does not run this).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import as_users_run_it, intake_throughput  # noqa: E402

PYTHON = sys.executable
DEFAULT_SPEC = ">=2.6.1,<2.7"  # verified: 2.6.1 installs here (needs Django >= 5.2, Python >= 3.10)
KEPT_VENV = ROOT / "benchmarks" / "results" / "peers" / "helpdesk-venv"
CONDUCT = "conduct@example.org"
BATCH = 200

SETTINGS = """
from pathlib import Path
HERE = Path(__file__).resolve().parent
SECRET_KEY = "benchmark-only"
DEBUG = False
ALLOWED_HOSTS = ["localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
SITE_ID = 1
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "helpdesk",
]
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True, "DIRS": []}}]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": HERE / "helpdesk.sqlite3",
    "OPTIONS": {options}}}}}
MEDIA_ROOT = HERE / "media"
DEFAULT_FROM_EMAIL = "helpdesk@example.org"
EMAIL_BACKEND = {backend!r}
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = {port}
EMAIL_USE_TLS = False
HELPDESK_TEAMS_MODE_ENABLED = False  # else it needs pinax-teams
"""

DRIVER = r"""
import json, os, sqlite3, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ["DJANGO_SETTINGS_MODULE"] = "hdbench_settings"
import django
django.setup()
from importlib import metadata
from django.core import mail
from django.core.management import call_command, load_command_class
from django.db import connection
from helpdesk.models import FollowUp, FollowUpAttachment, Queue, Ticket

mode, mail_dir = sys.argv[1], sys.argv[2]
if mode == "setup":
    call_command("migrate", verbosity=0, interactive=False)
    Queue.objects.create(
        title="Conduct", slug="conduct", email_address="conduct@example.org", email_box_type="local",
        email_box_local_dir=mail_dir, allow_email_submission=True, email_box_interval=0, logging_type="none",
    )
    with connection.cursor() as cursor:
        journal = cursor.execute("PRAGMA journal_mode").fetchone()[0]
        synchronous = cursor.execute("PRAGMA synchronous").fetchone()[0]
    print(json.dumps({
        "helpdesk": metadata.version("django-helpdesk"), "django": metadata.version("Django"),
        "python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version,
        "journal": journal, "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}.get(synchronous),
    }))
else:
    waiting = len(os.listdir(mail_dir))
    command = load_command_class("helpdesk", "get_email")  # its imports, before the clock as Mailflow's
    start = time.perf_counter()
    call_command(command, quiet=True)
    seconds = time.perf_counter() - start
    recipients = FollowUp.objects.values_list("email_recipients", flat=True)
    print(json.dumps({
        "seconds": seconds, "waiting": waiting, "left": len(os.listdir(mail_dir)),
        "tickets": Ticket.objects.count(), "followups": FollowUp.objects.count(),
        "described": Ticket.objects.exclude(description="").count(),
        "attachments": FollowUpAttachment.objects.count(),
        "acknowledged": sum(1 for r in recipients if r), "in_memory": len(getattr(mail, "outbox", [])),
    }))
"""


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def corpus(kind: str, count: int) -> tuple[list[bytes], str]:
    """The reports as bytes, and a line saying what they are (never their content)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "corpus.bin"
        if kind == "html":
            as_users_run_it.generate(path, count)
            what = "plain text + HTML alternative"
        else:
            intake_throughput.generate(path, count)
            what = "plain text"
        messages = path.read_bytes().split(b"\0SPLIT\0")
    mean = sum(map(len, messages)) // len(messages)
    return messages, f"{count} generated reports of {mean} bytes on average ({what})"


def lay_out(messages: Sequence[bytes], directory: Path) -> Path:
    directory.mkdir(parents=True)
    for i, raw in enumerate(messages):
        (directory / f"report-{i:06d}.eml").write_bytes(raw)
    return directory


def run(command: Sequence[str | os.PathLike[str]], what: str, cwd: Path | None = None) -> str:
    done = subprocess.run([str(c) for c in command], capture_output=True, text=True, check=False, cwd=cwd)
    if done.returncode != 0:
        noise = "is ignored: it is neither a file nor a directory"  # pip's note on this machine's local indexes
        err = "\n".join(line for line in done.stderr.splitlines() if noise not in line)
        raise SystemExit(f"{what} failed (exit {done.returncode}):\n{err[-4000:]}\n{done.stdout[-2000:]}")
    return done.stdout


def requirement(version: str) -> str:
    version = version.strip()
    return "django-helpdesk" + (version if version[:1] in "<>=!~" else f"=={version}")


def helpdesk_venv(spec: str, keep: bool, scratch: Path) -> Path:
    """A virtualenv with django-helpdesk installed from the package index; returns its python."""
    venv = KEPT_VENV if keep else scratch / "helpdesk-venv"
    python = venv / "bin" / "python"
    if not python.exists():
        venv.parent.mkdir(parents=True, exist_ok=True)
        run([PYTHON, "-m", "venv", venv], "creating the virtualenv (python -m venv)")
    started = time.perf_counter()
    run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", spec],
        f"pip install {spec!r} (only the package registries are reachable)",
    )
    print(f"  {spec} installed in {venv} ({time.perf_counter() - started:.0f} s)", flush=True)
    return python


def bench_helpdesk(
    python: Path, messages: Sequence[bytes], work: Path, *, tuned: bool, smtp_port: int | None
) -> tuple[dict[str, object], float]:
    """One run of get_email over the corpus; returns (the driver's figures, wall seconds of its process)."""
    work.mkdir()
    options = {"init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"} if tuned else {}
    backend = (
        "django.core.mail.backends.smtp.EmailBackend" if smtp_port else "django.core.mail.backends.locmem.EmailBackend"
    )
    (work / "hdbench_settings.py").write_text(SETTINGS.format(options=options, backend=backend, port=smtp_port or 25))
    (work / "driver.py").write_text(DRIVER)
    mail_dir = work / "mail"
    setup = json.loads(
        run([python, work / "driver.py", "setup", mail_dir], "django-helpdesk setup (migrate)", cwd=work)
    )
    lay_out(messages, mail_dir)
    started = time.perf_counter()
    figures = json.loads(run([python, work / "driver.py", "run", mail_dir], "django-helpdesk get_email", cwd=work))
    wall = time.perf_counter() - started
    figures.update(setup)
    return figures, wall


# -- Mailflow, in a child process of the project's interpreter -----------------------------------


class DiscardTransport:
    """Takes every mail and keeps nothing (the counterpart of Django's locmem backend)."""

    def __init__(self) -> None:
        self.mails = 0

    @contextmanager
    def session(self) -> Iterator[Callable[[str, Sequence[str], bytes, str], list[str]]]:
        yield self.send

    def send(self, mail_from: str, recipients: Sequence[str], raw: bytes, message_id: str) -> list[str]:
        self.mails += 1
        return []


def mailflow_child(work: Path, mode: str, smtp_port: int | None) -> None:
    """Runs in its own process: store and process every file in ``work/mail``; prints JSON."""
    from mailflow.config import settings_from_mapping
    from mailflow.inbound.spool import Envelope, Spool
    from mailflow.model import InboundSource
    from mailflow.parse.trace import Trace
    from mailflow.runtime import Runtime

    data = work / "data"
    outgoing: dict[str, object] = (
        {"transport": f"smtp://127.0.0.1:{smtp_port}", "starttls": False}
        if smtp_port
        else {"transport": f"maildir:{data / 'unused-outgoing'}"}
    )
    settings = settings_from_mapping(
        {
            "service": {"data_dir": str(data), "conduct_address": CONDUCT},
            "outgoing": outgoing,
            "acknowledgement": {"rate_limit_count": 1_000_000},
        }
    )
    discard = None if smtp_port else DiscardTransport()
    if mode == "setup":  # the schema (Alembic), in a process of its own as django-helpdesk's migrate
        Runtime.build(settings, transport=discard).close()
        return
    runtime = Runtime.build(settings, transport=discard, run_migrations=False)
    spool = Spool(runtime.engine)
    files = sorted((work / "mail").iterdir())
    ids: list[int] = []
    start = time.perf_counter()
    for path in files:
        trace = Trace(by=settings.intake.hostname, protocol="local", comment=f"uid {os.getuid()}")
        accepted = spool.accept(path.read_bytes(), Envelope(InboundSource.PIPE, None, (CONDUCT,), trace=trace))
        path.unlink()
        if mode == "one":
            runtime.process_now([accepted.inbound_id])
        else:
            ids.append(accepted.inbound_id)
    for begin in range(0, len(ids), BATCH):
        runtime.process_now(ids[begin : begin + BATCH])
    seconds = time.perf_counter() - start
    runtime.close()
    with sqlite3.connect(data / "mailflow.sqlite3") as conn:

        def count(sql: str) -> int:
            return int(conn.execute(sql).fetchone()[0])

        figures = {
            "seconds": seconds,
            "waiting": len(files),
            "left": len(list((work / "mail").iterdir())),
            "cases": count("SELECT count(*) FROM cases"),
            "inbound": count("SELECT count(*) FROM inbound_message"),
            "acknowledged": count(
                "SELECT count(*) FROM outbound_message WHERE kind = 'acknowledgement' AND state = 'sent'"
            ),
            "outbound": count("SELECT count(*) FROM outbound_message"),
            "transport_took": discard.mails if discard else None,
            "sqlite": sqlite3.sqlite_version,
        }
    print(json.dumps(figures))


def bench_mailflow(
    messages: Sequence[bytes], work: Path, *, mode: str, smtp_port: int | None
) -> tuple[dict[str, object], float]:
    command = [PYTHON, str(Path(__file__).resolve()), "--mailflow-child", str(work)]
    work.mkdir()
    run([*command, "setup", str(smtp_port or 0)], "Mailflow setup (the schema)", cwd=work)
    lay_out(messages, work / "mail")
    started = time.perf_counter()
    figures = json.loads(run([*command, mode, str(smtp_port or 0)], f"Mailflow ({mode})", cwd=work))
    return figures, time.perf_counter() - started


def mailflow_version() -> str:
    from importlib import metadata

    try:
        version = metadata.version("mailflow")
    except metadata.PackageNotFoundError:
        version = "?"
    head = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    )
    dirty = subprocess.run(  # the package only: a note or a results file is no change to what ran
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "mailflow"], capture_output=True, text=True, check=False
    )
    mark = "+changes" if dirty.stdout.strip() else ""
    return f"{version} (this checkout, {head.stdout.strip() or '?'}{mark})"


@contextmanager
def smtp_sink(enabled: bool) -> Iterator[int | None]:
    if not enabled:
        yield None
        return
    port = intake_throughput.free_port()
    sink = subprocess.Popen([PYTHON, "-c", intake_throughput.SINK, str(port)], stderr=subprocess.PIPE)
    try:
        intake_throughput.wait_port(port, sink)
        yield port
    finally:
        sink.terminate()
        sink.wait()


def check(name: str, figures: dict[str, object], keys: Sequence[str], n: int) -> str:
    """Every message must have become a ticket/case with its acknowledgement: else the rate is not real."""
    problems = [f"{key} {figures[key]}" for key in keys if figures[key] != n]
    if figures["left"]:
        problems.append(f"{figures['left']} file(s) left unprocessed")
    if problems:
        raise SystemExit(f"{name}: expected {n} of each, found: {', '.join(problems)} ({json.dumps(figures)})")
    return ", ".join(f"{key} {figures[key]}" for key in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=500)
    parser.add_argument("--keep", action="store_true", help=f"keep the virtualenv ({KEPT_VENV}) for reruns")
    parser.add_argument(
        "--helpdesk-version",
        default=DEFAULT_SPEC,
        help="a version (2.6.1) or a range (>=2.6.1,<2.7); default %(default)s",
    )
    parser.add_argument("--corpus", choices=["html", "plain"], default="html")
    parser.add_argument("--transport", choices=["memory", "smtp"], default="memory")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, interleaved; the median is reported")
    args = parser.parse_args()
    n = args.messages
    spec = requirement(args.helpdesk_version)

    print(f"load average before: {loadavg()}  ({os.cpu_count()} cores)", flush=True)
    messages, described = corpus(args.corpus, n)
    scratch = Path(tempfile.mkdtemp(prefix="mailflow-peer-"))
    try:
        python = helpdesk_venv(spec, args.keep, scratch)
        runs: dict[str, list[tuple[dict[str, object], float]]] = {key: [] for key in ROWS}
        with smtp_sink(args.transport == "smtp") as port:
            for r in range(args.repeat):  # interleaved, so that a burst of other work spreads over all four
                for key in ROWS:
                    work = scratch / f"{key}-{r}"
                    if key in ("default", "wal"):
                        result = bench_helpdesk(python, messages, work, tuned=key == "wal", smtp_port=port)
                    else:
                        result = bench_mailflow(messages, work, mode=key, smtp_port=port)
                    runs[key].append(result)
                    shutil.rmtree(work, ignore_errors=True)
                    print(f"  run {r + 1}/{args.repeat}: {ROWS[key][0]} done; load {loadavg()}", flush=True)
        after = loadavg()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(n, described, port, runs)
    print(f"\nload average after: {after}")


ROWS = {
    "default": ("django-helpdesk get_email, Django's SQLite defaults", ("tickets", "described")),
    "wal": ("django-helpdesk get_email, WAL + synchronous=NORMAL", ("tickets", "described")),
    "one": ("Mailflow spool + process_now, one message at a time", ("cases",)),
    "batch": (f"Mailflow spool + process_now, batches of {BATCH}", ("cases",)),
}


def report(n: int, described: str, port: int | None, runs: dict[str, list[tuple[dict[str, object], float]]]) -> None:
    hd, mf = runs["default"][0][0], runs["one"][0][0]
    where = "Django's locmem backend / a discarding transport" if port is None else "an aiosmtpd sink on loopback"
    print(f"\nMailflow vs django-helpdesk: {described}, SQLite, acknowledgements to {where}")
    print(
        f"versions: django-helpdesk {hd['helpdesk']}, Django {hd['django']} (Python {hd['python']}, "
        f"SQLite {hd['sqlite']}); Mailflow {mailflow_version()} (Python {platform.python_version()}, "
        f"SQLite {mf['sqlite']})"
    )
    repeats = len(runs["default"])
    print(
        f"N = {n}, {platform.machine()}, {os.cpu_count()} cores"
        + (f", median of {repeats} runs" if repeats > 1 else "")
    )
    print(f"\n{'messages/s':58} {'in-process':>11} {'with start-up':>14}")
    rates: dict[str, tuple[float, float]] = {}
    for key, (label, made) in ROWS.items():
        for figures, _ in runs[key]:
            counted = check(label, figures, (*made, "acknowledged"), n)
        inside = [n / float(str(figures["seconds"])) for figures, _ in runs[key]]
        rates[key] = (statistics.median(inside), statistics.median(n / wall for _, wall in runs[key]))
        journal = f"{figures['journal']}/{figures['synchronous']}" if "journal" in figures else "wal/NORMAL, spool FULL"
        extra = f", attachments {figures['attachments']}" if "attachments" in figures else ""
        spread = f" (each run: {', '.join(f'{rate:.1f}' for rate in inside)})" if repeats > 1 else ""
        print(f"{label:58} {rates[key][0]:9.1f}/s {rates[key][1]:12.1f}/s{spread}")
        print(f"    {journal}; {counted}{extra}")
    print("\nratio Mailflow / django-helpdesk   in-process (with start-up)")
    for key, label in (("one", "one at a time"), ("batch", "batches")):
        versus = [
            f"{rates[key][0] / rates[peer][0]:5.2f} ({rates[key][1] / rates[peer][1]:.2f}) vs its {name}"
            for peer, name in (("default", "defaults"), ("wal", "WAL"))
        ]
        print(f"  {label:16} " + ",   ".join(versus))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--mailflow-child":
        mailflow_child(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]) or None)
    else:
        main()
