"""A real Postfix (Debian's package) from a throw-away configuration directory, for the
deployment tests: its own queue and data directories, an smtpd on a free loopback port, and the
snippets of config/postfix/ added exactly as an operator adds them (paths, port and user
replaced). Started with ``postfix -c DIR start``, stopped with ``postfix -c DIR stop``."""

from __future__ import annotations

import os
import pwd
import re
import shutil
import smtplib
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from tests.support.sink import free_port
from tests.support.strict import unavailable

T = TypeVar("T")

SNIPPETS = Path(__file__).resolve().parents[2] / "config" / "postfix"
SBIN = Path("/usr/sbin")

# Postfix's own services, none chrooted; the snippet's master.cf lines are appended.
_MASTER = """\
127.0.0.1:{smtp_port} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""

_MAIN = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test.example
mydomain = test.example
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtpd_banner = $myhostname ESMTP
biff = no
# Everything that is not for the conduct domain (bounces above all) goes to the test's sink.
relayhost = [127.0.0.1]:{relay_port}
maillog_file_prefixes = {root}
maillog_file = {root}/maillog
# Retries only when the test asks (postqueue -f), never behind its back.
queue_run_delay = 1h
minimal_backoff_time = 1h
maximal_backoff_time = 2h
"""


def available() -> None:
    """Fail (CI) or skip (a developer's machine) without Postfix."""
    if not (SBIN / "postfix").exists() or not (SBIN / "postmap").exists():
        unavailable("Postfix is not installed (apt-get install postfix; CI lists it in .ci/apt-packages.txt)")
    if os.geteuid() != 0:
        unavailable("running Postfix's master daemon needs root")


def snippet(name: str, replace: dict[str, str]) -> str:
    """A file of config/postfix/, with the operator's paths, port and user replaced by the test's."""
    text = (SNIPPETS / name).read_text(encoding="utf-8")
    for old, new in replace.items():
        text = text.replace(old, new)
    return text


class Postfix:
    def __init__(self, root: Path, *, transport: str, replace: dict[str, str], relay_port: int) -> None:
        """``transport``: "lmtp" or "pipe", which transport map of config/postfix/ is used."""
        available()
        self.root = root
        self.etc = root / "etc"
        self.maps = root / "maps"
        self.smtp_port = free_port()
        self.etc.mkdir(parents=True)
        self.maps.mkdir()
        (root / "queue").mkdir()  # Postfix creates its subdirectories on start
        (root / "data").mkdir()
        postfix_user = pwd.getpwnam("postfix")
        os.chown(root / "data", postfix_user.pw_uid, postfix_user.pw_gid)
        replace = {"/etc/postfix/mailflow/": f"{self.maps}/", **replace}
        main = _MAIN.format(root=root, relay_port=relay_port) + "\n" + snippet("main.cf", replace)
        (self.etc / "main.cf").write_text(main, encoding="utf-8")
        master = _MASTER.format(smtp_port=self.smtp_port) + "\n" + snippet("master.cf", replace)
        (self.etc / "master.cf").write_text(master, encoding="utf-8")
        (self.maps / "transport").write_text(snippet(f"transport-{transport}", replace), encoding="utf-8")
        (self.maps / "recipients").write_text(snippet("recipients", replace), encoding="utf-8")
        for name in ("transport", "recipients"):
            self._run("postmap", "-c", str(self.etc), f"hash:{self.maps / name}")

    def _run(self, command: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([str(SBIN / command), *args], capture_output=True, text=True, timeout=120, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"{command} {' '.join(args)}: {done.returncode}\n{done.stdout}{done.stderr}")
        return done

    def start(self) -> Postfix:
        self._run("postfix", "-c", str(self.etc), "start")
        deadline = time.monotonic() + 30
        while True:
            try:
                with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=5) as client:
                    if client.noop()[0] == 250:
                        return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"Postfix did not listen on port {self.smtp_port}:\n{self.log()}")
            time.sleep(0.2)

    def stop(self) -> None:
        self._run("postfix", "-c", str(self.etc), "stop", check=False)
        pid = self.root / "queue" / "pid" / "master.pid"
        deadline = time.monotonic() + 30
        while pid.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid.exists():  # a master that did not go: end it (ours, by its pid file)
            self._run("postfix", "-c", str(self.etc), "abort", check=False)

    def send(self, raw: bytes, *, sender: str, to: str) -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as client:
            return client.sendmail(sender, [to], raw)

    def flush(self) -> None:
        """Retry the deferred queue now (``postqueue -c DIR -f``)."""
        self._run("postqueue", "-c", str(self.etc), "-f")

    def queue(self) -> str:
        return self._run("postqueue", "-c", str(self.etc), "-p").stdout

    def queue_empty(self) -> bool:
        return "Mail queue is empty" in self.queue()

    def log(self) -> str:
        path = self.root / "maillog"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def wait_log(self, pattern: str, timeout: float = 60, count: int = 1) -> list[str]:
        """Until the log has ``count`` lines matching ``pattern``; returns them."""
        compiled = re.compile(pattern)

        def found() -> list[str] | None:
            lines = [line for line in self.log().splitlines() if compiled.search(line)]
            return lines[:count] if len(lines) >= count else None

        return wait_for(found, timeout, f"{count} Postfix log line(s) matching {pattern!r}\n{self.log()[-3000:]}")


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def which_python() -> str:
    """An interpreter the pipe's unprivileged user may run: the system's, of our minor version."""
    found = shutil.which("python3.11", path="/usr/bin")
    if found is None:
        unavailable("no /usr/bin/python3.11 for the unprivileged pipe user (apt-get install python3)")
    return str(found)
