"""A real, throw-away Dovecot IMAP server for the tests of the IMAP intake.

``DovecotServer(base_dir, ca)`` configures Dovecot under ``base_dir`` alone (nothing from /etc/dovecot):
one template of the settings every supported version shares plus a small overlay per version (2.3,
2.4) for those whose names differ. It listens on 127.0.0.1, on free ports: ``imap_port`` (STARTTLS)
and ``imaps_port`` (TLS), with a certificate from the session's test CA (tests/support/tls.py).
Users are in a passwd-file (``add_user``, also while it runs), mail in Maildir; XOAUTH2 and
OAUTHBEARER take static tokens (``add_oauth_token``), no OAuth server. All of it runs as one
unprivileged account (rootless): the current one, or ``mailflow-imap`` as root. ``restart()`` keeps
ports, users, mail and UIDVALIDITY; ``reset_uidvalidity()`` renumbers a folder. The ``dovecot``
fixture gives a test a started server and keeps its log in ``tmp_path``; without Dovecot it skips
(fails under MAILFLOW_STRICT).
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pytest
import trustme
from imapclient import IMAPClient

from tests.support.strict import unavailable
from tests.support.tls import ServerTls, issue_server_tls

#: The unprivileged account Dovecot runs as when the tests run as root.
SERVICE_ACCOUNT = "mailflow-imap"
INSTALL_HINT = "dovecot not installed: apt-get install dovecot-imapd"

_USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,63}$")
_APPENDUID = re.compile(rb"\[APPENDUID \d+ ([0-9:,]+)\]", re.IGNORECASE)
# Unix socket paths are limited to 107 bytes; Dovecot's longest one under base_dir is about 30.
_MAX_BASE_DIR = 70

# The settings every supported Dovecot shares: {s.name} is an attribute of the DovecotServer, {name}
# a setting of the version's overlay below.
_TEMPLATE = """\
# Written by tests/support/dovecot.py for Dovecot {s.version_text}; nothing from /etc/dovecot is read.
{preamble}
base_dir = {s.base_dir}/run
state_dir = {s.base_dir}/state
log_path = {s.log_path}
auth_verbose = yes
listen = 127.0.0.1
protocols = imap
# No stats process connections: they only slow start and stop down.
stats_writer_socket_path =

# Rootless: every process runs as the one unprivileged account that also owns the mail.
default_internal_user = {s.user}
default_internal_group = {s.group}
default_login_user = {s.user}
first_valid_uid = {s.uid}
ssl = yes
{ssl_files}
{allow_cleartext}
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0 secs
passdb passwords {{
  driver = passwd-file
  {passwd_file} {s.passwd_path}
  {mechanisms} = plain login
}}
passdb tokens {{
  driver = passwd-file
  {passwd_file} {s.tokens_path}
  {mechanisms} = xoauth2 oauthbearer
}}
userdb users {{
  driver = passwd-file
  {passwd_file} {s.passwd_path}
}}

{mail}
namespace inbox {{
  inbox = yes
  separator = /
}}
mailbox_idle_check_interval = 1 secs

service imap-login {{
  chroot =
  inet_listener imap {{
    port = {s.imap_port}
  }}
  inet_listener imaps {{
    port = {s.imaps_port}
    ssl = yes
  }}
}}
# Without its penalty socket (mode 0: not created) anvil does not delay the logins that follow a
# wrong password (2 s doubling up to 15 s), which would only make the tests of those slow.
service anvil {{
  chroot =
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
"""

# What differs between the supported versions: 2.4 renamed these settings. Its overlay follows 2.4's
# documentation and runs only where 2.4 is installed (Debian 13; Debian 12 ships 2.3).
_OVERLAYS = {
    "2.3": {
        "preamble": "",
        "ssl_files": "ssl_cert = <{s.tls.certificate}\nssl_key = <{s.tls.key}",
        "allow_cleartext": "disable_plaintext_auth = no",
        "passwd_file": "args = username_format=%u",
        "mechanisms": "mechanisms",
        "mail": "mail_location = maildir:~/Maildir",
    },
    "2.4": {
        "preamble": "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0",
        "ssl_files": "ssl_server_cert_file = {s.tls.certificate}\nssl_server_key_file = {s.tls.key}",
        "allow_cleartext": "auth_allow_cleartext = yes",
        "passwd_file": "passwd_file_path =",
        "mechanisms": "mechanisms_filter",
        "mail": "mail_driver = maildir\nmail_path = ~/Maildir",
    },
}


class DovecotError(RuntimeError):
    """Dovecot could not be configured, started or stopped."""


def dovecot_binary() -> Path | None:
    """The ``dovecot`` executable, or None when Dovecot is not installed."""
    found = shutil.which("dovecot", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"]))
    return Path(found) if found else None


def dovecot_version(binary: Path | None = None) -> tuple[int, ...]:
    """The installed Dovecot's version, e.g. ``(2, 3, 19, 1)``."""
    binary = binary or dovecot_binary()
    if binary is None:
        raise DovecotError(INSTALL_HINT)
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    return tuple(int(part) for part in out.split()[0].split("."))  # "2.3.19.1 (9b53102964)"


def _service_account() -> pwd.struct_passwd:
    """The account of the Dovecot processes and mail files: the current one, as root ``mailflow-imap``."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    # One test process at a time (pytest -n): useradd writes the passwd entry before the group's, so
    # another process could otherwise see the account without its group.
    with open(Path(tempfile.gettempdir()) / "mailflow-imap-account.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if SERVICE_ACCOUNT not in {entry.pw_name for entry in pwd.getpwall()}:
            useradd = [shutil.which("useradd") or "/usr/sbin/useradd", "--system", "--user-group", "--no-create-home"]
            useradd += ["--home-dir", "/nonexistent", "--shell", "/bin/false", SERVICE_ACCOUNT]
            subprocess.run(useradd, check=True)
    account = pwd.getpwnam(SERVICE_ACCOUNT)
    if account.pw_uid == 0:
        raise DovecotError(f"the account {SERVICE_ACCOUNT} must not be root")
    return account


def live_processes_in_group(pgid: int) -> list[int]:
    """PIDs of the processes of process group ``pgid`` that have not exited (zombies excluded)."""
    pids = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat_line = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
        fields = stat_line[stat_line.rindex(")") + 2 :].split()
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            pids.append(int(entry))
    return pids


def _is_log_process(pid: int) -> bool:
    try:
        return Path("/proc", str(pid), "cmdline").read_bytes().rstrip(b"\0 ").endswith(b"/log")
    except OSError:
        return False


def _two_free_ports() -> tuple[int, int]:
    """Two distinct ports free on 127.0.0.1 (held at once, so the kernel gives two different ones)."""
    with socket.socket() as one, socket.socket() as two:
        one.bind(("127.0.0.1", 0))
        two.bind(("127.0.0.1", 0))
        return int(one.getsockname()[1]), int(two.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Have the kernel SIGTERM Dovecot's master if the test process dies without stopping it."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG


def _appended_uids(response: bytes | tuple[str, list[object]]) -> list[int]:
    """UIDs from an APPEND response: bytes from ``append``, (typ, [data]) from ``multiappend``."""
    if isinstance(response, tuple):
        response = b" ".join(part for part in response[1] if isinstance(part, bytes))
    match = _APPENDUID.search(response)
    if not match:
        raise DovecotError(f"no APPENDUID in the APPEND response {response!r}")
    uids: list[int] = []
    for part in match.group(1).decode().split(","):
        low, _, high = part.partition(":")
        uids.extend(range(int(low), int(high or low) + 1))
    return uids


class DovecotServer:
    """One Dovecot instance with its own configuration, certificate, users and mail."""

    host = "127.0.0.1"
    separator = "/"

    def __init__(self, base_dir: Path, ca: trustme.CA) -> None:
        self.binary, self.version = dovecot_binary(), dovecot_version()
        self.version_text = ".".join(map(str, self.version))
        if self.version < (2, 3):
            raise DovecotError(f"Dovecot {self.version_text} is older than the oldest supported, 2.3")
        self.base_dir = Path(base_dir).resolve()
        if len(str(self.base_dir)) > _MAX_BASE_DIR or re.search(r'[\s"\\]', str(self.base_dir)):
            raise DovecotError(f"base_dir {self.base_dir} does not suit Dovecot: use tempfile.mkdtemp()")
        self.config_path = self.base_dir / "dovecot.conf"
        self.log_path = self.base_dir / "dovecot.log"
        self.stderr_path = self.base_dir / "dovecot.stderr"
        self.passwd_path = self.base_dir / "auth" / "passwd"
        self.tokens_path = self.base_dir / "auth" / "oauth-tokens"
        account = _service_account()
        self.user, self.uid, self.gid = account.pw_name, account.pw_uid, account.pw_gid
        self.group = grp.getgrgid(self.gid).gr_name
        self.imap_port, self.imaps_port = _two_free_ports()
        self._users: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._started_once = False

        for name in ("state", "home", "auth"):
            (self.base_dir / name).mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o755)
        self.tls: ServerTls = issue_server_tls(ca, self.base_dir / "tls")
        self._write_passwd_files()
        self.config_path.write_text(self.config_text())
        if os.geteuid() == 0:
            for dirpath, _dirs, files in os.walk(self.base_dir):
                for path in [dirpath, *(os.path.join(dirpath, name) for name in files)]:
                    os.chown(path, self.uid, self.gid)

    def config_text(self) -> str:
        """The template filled in, with the overlay of this Dovecot's version."""
        overlay = _OVERLAYS["2.4" if self.version >= (2, 4) else "2.3"]
        return _TEMPLATE.format(s=self, **{name: text.format(s=self) for name, text in overlay.items()})

    def home(self, user: str) -> Path:
        return self.base_dir / "home" / user

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The Maildir++ directory that holds ``folder`` of ``user``."""
        root = self.home(user) / "Maildir"
        return root if folder.upper() == "INBOX" else root / ("." + folder.replace(self.separator, "."))

    def _write_file(self, path: Path, text: str) -> None:
        """Replace ``path`` atomically, its mtime moved on by at least a second."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(0o640)
        if os.geteuid() == 0:
            os.chown(tmp, self.uid, self.gid)
        # Dovecot re-reads a passwd-file when its mtime (whole seconds) or size changed: a second
        # change within the same second and of the same size must still move the mtime on.
        before = path.stat().st_mtime if path.exists() else 0.0
        tmp.replace(path)
        stamp = max(time.time(), before + 1)
        os.utime(path, (stamp, stamp))

    def _write_passwd_files(self) -> None:
        def line(name: str, secret: str) -> str:
            return f"{name}:{{PLAIN.b64}}{base64.b64encode(secret.encode()).decode()}::::{self.home(name)}::\n"

        self._write_file(self.passwd_path, "".join(line(n, p) for n, p in self._users.items()))
        self._write_file(self.tokens_path, "".join(line(n, t) for n, t in self._tokens.items()))
        if self.running:
            # Dovecot looks at a passwd-file at most once a second: a running server that just read
            # it would not see the change within that second, so wait the second out.
            time.sleep(1.1)

    def add_user(self, name: str, password: str) -> None:
        """Add (or change the password of) a mail user; works while the server runs."""
        if not _USER_NAME.match(name) or not password or "\n" in password:
            raise ValueError(f"unsupported test user name {name!r} or a password that is not one line")
        self._users[name] = password
        self.home(name).mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.home(name), self.uid, self.gid)
        self._write_passwd_files()

    def add_oauth_token(self, name: str, token: str) -> None:
        """Accept ``token`` as an XOAUTH2/OAUTHBEARER bearer token for existing user ``name``."""
        if name not in self._users or not re.fullmatch(r"[!-~]+", token):
            raise ValueError(f"add_user({name!r}, ...) first; a token is printable ASCII without spaces")
        self._tokens[name] = token
        self._write_passwd_files()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start Dovecot and wait until it greets on the plain port and accepts on the TLS port.

        On the first start only, a port taken by someone else between choosing it and Dovecot
        binding it is replaced by another free port (a restart keeps its ports).
        """
        for attempt in range(3):
            try:
                return self._start(timeout)
            except DovecotError as exc:
                if self._started_once or attempt == 2 or "Address already in use" not in str(exc):
                    raise
                self.imap_port, self.imaps_port = _two_free_ports()
                self._write_file(self.config_path, self.config_text())

    def _start(self, timeout: float) -> None:
        if self.running:
            return
        as_root = os.geteuid() == 0
        with open(self.stderr_path, "ab") as stderr:
            self._process = subprocess.Popen(
                [str(self.binary), "-F", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                cwd=self.base_dir,
                env={"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C"},
                start_new_session=True,  # the master leads a process group: stop() finds them all
                preexec_fn=_die_with_parent,
                user=self.uid if as_root else None,
                group=self.gid if as_root else None,
                extra_groups=[] if as_root else None,
            )
        deadline, last_error = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code, self._process = self._process.returncode, None
                raise DovecotError(self._failure(f"Dovecot exited with status {code} while starting"))
            try:
                with (
                    socket.create_connection((self.host, self.imap_port), timeout=2) as sock,
                    sock.makefile("rb") as reader,
                ):
                    greeting = reader.readline()
                if not greeting.startswith(b"* OK"):
                    raise ConnectionError(f"unexpected greeting {greeting!r}")
                socket.create_connection((self.host, self.imaps_port), timeout=2).close()
                self._started_once = True
                return
            except OSError as exc:
                last_error = exc
                time.sleep(0.05)
        self.stop(graceful=False)
        raise DovecotError(self._failure(f"Dovecot did not greet within {timeout:g}s ({last_error})"))

    def stop(self, timeout: float = 15.0, *, graceful: bool = True) -> None:
        """Stop Dovecot and wait until none of its processes is left; idempotent.

        Graceful: SIGTERM to all of its processes at once, as systemd does (the master alone
        would wait for its children, and leave those of logged-in clients behind for ten
        seconds); clients see "* BYE" or EOF. Not graceful: SIGKILL, a crash.
        """
        process, self._process = self._process, None
        if process is None:
            return
        signum = signal.SIGTERM if graceful else signal.SIGKILL
        deadline = time.monotonic() + timeout
        # The log process goes last, so that the others' farewells reach dovecot.log. The signal is
        # repeated: a child forked a moment ago may have missed it.
        for log_process in (False, True):
            while time.monotonic() < deadline:
                pids = [pid for pid in live_processes_in_group(process.pid) if _is_log_process(pid) == log_process]
                if not pids:
                    break
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signum)
                time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=timeout)

    def restart(self, timeout: float = 20.0, *, graceful: bool = True) -> None:
        """Stop and start again with the same configuration, ports, users and mail."""
        self.stop(graceful=graceful)
        self.start(timeout=timeout)

    def log_text(self) -> str:
        return "".join(path.read_text(errors="replace") for path in (self.stderr_path, self.log_path) if path.exists())

    def _failure(self, message: str) -> str:
        tail = "\n".join(self.log_text().splitlines()[-40:])
        return f"{message}\nconfig: {self.config_path}\n--- tail of Dovecot's log ---\n{tail}"

    def client(self, tls: str = "starttls", timeout: float = 30.0) -> IMAPClient:
        """An IMAPClient connected but not logged in; tls is "starttls", "imaps" or "none"."""
        if tls == "imaps":
            context = self.tls.client_context()
            return IMAPClient(self.host, self.imaps_port, ssl=True, ssl_context=context, timeout=timeout)
        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=timeout)
        if tls == "starttls":
            client.starttls(self.tls.client_context())
        return client

    @contextlib.contextmanager
    def login(self, user: str, tls: str = "none") -> Iterator[IMAPClient]:
        """A logged-in IMAPClient for ``user`` (with the password given to add_user)."""
        client = self.client(tls)
        try:
            client.login(user, self._users[user])
            yield client
        finally:
            with contextlib.suppress(Exception):
                client.logout()
            with contextlib.suppress(Exception):
                client.shutdown()

    def create_folder(self, user: str, folder: str) -> None:
        with self.login(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.subscribe_folder(folder)

    def append(self, user: str, folder: str, raw: bytes, flags: Sequence[str | bytes] = ()) -> int:
        """APPEND one message over IMAP; returns its UID."""
        return self.append_many(user, folder, [raw], flags)[0]

    def append_many(
        self, user: str, folder: str, messages: Iterable[bytes], flags: Sequence[str | bytes] = ()
    ) -> list[int]:
        """APPEND many messages on one connection, 200 at a time with MULTIAPPEND; returns their UIDs."""
        batch = [{"msg": raw, "flags": tuple(flags)} for raw in messages]
        uids: list[int] = []
        with self.login(user) as client:
            for start in range(0, len(batch), 200):
                uids += _appended_uids(client.multiappend(folder, batch[start : start + 200]))
        return uids

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.login(user) as client:
            return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])

    def reset_uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """Make Dovecot give ``folder`` a new UIDVALIDITY, keeping its messages (renumbered).

        With Dovecot stopped, the folder's dovecot-uidlist and index files (and the mailbox list
        index that caches STATUS) are deleted; started again, Dovecot rescans the Maildir and takes
        a fresh UIDVALIDITY from the counter in Maildir/dovecot-uidvalidity. Returns the new one.
        """
        before = self.uidvalidity(user, folder)
        box, root = self.maildir(user, folder), self.home(user) / "Maildir"
        self.stop()  # clients still connected are disconnected
        try:
            for path in [*box.glob("dovecot-uidlist*"), *box.glob("dovecot.index*"), *root.glob("dovecot.list.index*")]:
                path.unlink()
        finally:
            self.start()
        after = self.uidvalidity(user, folder)
        if after == before:
            raise DovecotError(f"UIDVALIDITY of {user}/{folder} stayed {before} after the reset")
        return after


@contextlib.contextmanager
def dovecot_server(ca: trustme.CA) -> Iterator[DovecotServer]:
    """A started DovecotServer in a fresh temporary directory, stopped and removed afterwards.

    Skips (or fails under MAILFLOW_STRICT) when Dovecot is not installed.
    """
    if dovecot_binary() is None:
        unavailable(INSTALL_HINT)
    with tempfile.TemporaryDirectory(prefix="mailflow-dovecot-", ignore_cleanup_errors=True) as base_dir:
        server = DovecotServer(Path(base_dir), ca)
        try:
            server.start()
            yield server
        finally:
            server.stop(graceful=False)  # the mail is thrown away: no need for an orderly shutdown


@pytest.fixture(name="dovecot")
def dovecot_fixture(tmp_path: Path, tls_ca: trustme.CA) -> Iterator[DovecotServer]:
    """A fresh, started Dovecot for one test; its log is left in the test's tmp_path."""
    with dovecot_server(tls_ca) as server:
        try:
            yield server
        finally:
            server.stop(graceful=False)
            with contextlib.suppress(OSError):
                (tmp_path / "dovecot.log").write_text(server.log_text())
