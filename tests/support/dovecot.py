"""A real, throw-away Dovecot IMAP server for the tests of the IMAP intake.

``DovecotServer(base_dir)`` writes a self-contained configuration under ``base_dir`` (nothing from
/etc/dovecot is read), generates a throw-away CA and server certificate, and runs Dovecot in the
foreground as a child of the test process, listening on 127.0.0.1 only:

* ``imap_port``: plain IMAP with STARTTLS;
* ``imaps_port``: implicit TLS;
* users in a passwd-file (``add_user``), mail in Maildir under ``base_dir/home/<user>/Maildir``;
* auth mechanisms PLAIN and LOGIN for passwords, XOAUTH2 and OAUTHBEARER for static bearer tokens
  (``add_oauth_token``): Dovecot's OAuth2 mechanisms hand the bearer token to the passdb as if it
  were a password, so a second passwd-file that only answers those two mechanisms holds the test
  tokens. No OAuth server is involved (and none could be reached here).

The whole Dovecot process tree runs as one unprivileged account ("rootless" Dovecot: no chroot,
internal and login processes under the same uid): the current user when the tests do not run as
root, otherwise a dedicated system account ``mailflow-imap`` that is created on first use. The
mail files belong to that account.

Mail is put in place over IMAP (``create_folder``, ``append``, ``append_many`` with MULTIAPPEND).
``restart()`` keeps ports, users, mail and UIDVALIDITY (``graceful=False``: a crash, SIGKILL);
``reset_uidvalidity()`` makes Dovecot renumber a folder under a new UIDVALIDITY. Dovecot hands
back CRLF line ends: a message appended with bare LFs is fetched with CRLFs.

The pytest fixture ``dovecot`` (function ``dovecot_fixture``) gives every test a fresh, started
server and stops it at teardown even when the test failed; Dovecot's log is copied into the test's
``tmp_path`` so a failed test leaves it behind. Make it visible to all tests with this line in
``tests/conftest.py``::

    from tests.support.dovecot import dovecot_fixture  # noqa: F401
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest
from imapclient import IMAPClient

from tests.support.strict import unavailable

__all__ = [
    "SERVICE_ACCOUNT",
    "DovecotError",
    "DovecotServer",
    "dovecot_binary",
    "dovecot_fixture",
    "dovecot_server",
    "dovecot_version",
    "live_processes_in_group",
]

#: The unprivileged account Dovecot runs as when the tests run as root.
SERVICE_ACCOUNT = "mailflow-imap"

INSTALL_HINT = "dovecot not installed: apt-get install dovecot-imapd"

_BINARY_CANDIDATES = ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot", "/opt/dovecot/sbin/dovecot")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+@-]{0,63}$")
_APPENDUID_RE = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]", re.IGNORECASE)
# Unix socket paths are limited to 107 bytes; Dovecot's longest one under base_dir is about 30.
_MAX_BASE_DIR_LEN = 70
_LOG_TAIL_LINES = 40


class DovecotError(RuntimeError):
    """Dovecot could not be configured, started or stopped."""


# --------------------------------------------------------------------------------------------
# discovery


def dovecot_binary() -> Path | None:
    """The ``dovecot`` executable, or None when Dovecot is not installed."""
    found = shutil.which("dovecot")
    if found:
        return Path(found)
    for candidate in _BINARY_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def dovecot_version(binary: Path | None = None) -> tuple[int, ...]:
    """The installed Dovecot's version, e.g. ``(2, 3, 19, 1)``."""
    binary = binary or dovecot_binary()
    if binary is None:
        raise DovecotError(INSTALL_HINT)
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True, timeout=30).stdout
    match = re.match(r"\s*(\d+(?:\.\d+)+)", out)
    if not match:
        raise DovecotError(f"cannot parse the output of `dovecot --version`: {out!r}")
    return tuple(int(part) for part in match.group(1).split("."))


# --------------------------------------------------------------------------------------------
# the account Dovecot runs as


def _service_account() -> tuple[str, str, int, int]:
    """(user, group, uid, gid) that the Dovecot processes and the mail files belong to."""
    if os.geteuid() != 0:
        uid, gid = os.geteuid(), os.getegid()
        return pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name, uid, gid
    try:
        entry = pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        _create_service_account()
        entry = pwd.getpwnam(SERVICE_ACCOUNT)
    if entry.pw_uid == 0:
        raise DovecotError(f"account {SERVICE_ACCOUNT} must not be root")
    return entry.pw_name, grp.getgrgid(entry.pw_gid).gr_name, entry.pw_uid, entry.pw_gid


def _create_service_account() -> None:
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    nologin = "/usr/sbin/nologin" if os.path.exists("/usr/sbin/nologin") else "/bin/false"
    cmd = [
        useradd,
        "--system",
        "--user-group",
        "--no-create-home",
        "--home-dir",
        "/nonexistent",
        "--shell",
        nologin,
        "--comment",
        "Mailflow test IMAP server",
        SERVICE_ACCOUNT,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        with contextlib.suppress(KeyError):  # created concurrently by another test process
            pwd.getpwnam(SERVICE_ACCOUNT)
            return
        raise DovecotError(
            f"running as root, Dovecot needs an unprivileged account and `{' '.join(cmd)}` "
            f"failed: {result.stderr.strip()}"
        )


def live_processes_in_group(pgid: int) -> list[int]:
    """PIDs of the processes of process group ``pgid`` that have not exited (zombies excluded)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
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
        title = Path("/proc", str(pid), "cmdline").read_bytes()
    except OSError:
        return False
    return title.rstrip(b"\0 ").endswith(b"/log")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _set_parent_death_signal() -> None:  # pragma: no cover - runs in the child before exec
    """Have the kernel SIGTERM Dovecot's master if the test process dies without cleaning up."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


# --------------------------------------------------------------------------------------------
# TLS material


_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = Mailflow test CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[v3_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
"""


def _generate_tls(directory: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for localhost/127.0.0.1 signed by it.

    Returns (ca_cert, server_cert, server_key). Uses the ``cryptography`` package when it is
    installed, otherwise the ``openssl`` command line tool.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_cert, cert, key = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    try:
        import cryptography  # noqa: F401
    except ImportError:
        _generate_tls_openssl(directory, ca_cert, cert, key)
    else:
        _generate_tls_cryptography(ca_cert, cert, key)
    key.chmod(0o600)
    return ca_cert, cert, key


def _generate_tls_openssl(directory: Path, ca_cert: Path, cert: Path, key: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise DovecotError("neither the cryptography package nor the openssl tool is available")
    cnf, ca_key, csr = directory / "openssl.cnf", directory / "ca.key", directory / "server.csr"
    cnf.write_text(_OPENSSL_CNF)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "30")
    ca_out = ("-keyout", str(ca_key), "-out", str(ca_cert), "-subj", "/CN=Mailflow test CA")
    csr_out = ("-keyout", str(key), "-out", str(csr), "-subj", "/CN=localhost")
    sign = ("-CA", str(ca_cert), "-CAkey", str(ca_key), "-set_serial", f"0x{secrets.token_hex(8)}")
    leaf = ("-days", "30", "-out", str(cert), "-extfile", str(cnf), "-extensions", "v3_leaf")
    commands = [
        [openssl, "req", "-x509", "-config", str(cnf), "-extensions", "v3_ca", *ec, *ca_out],
        [openssl, "req", "-new", "-config", str(cnf), *ec[:-2], *csr_out],
        [openssl, "x509", "-req", "-in", str(csr), *sign, *leaf],
    ]
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise DovecotError(f"{' '.join(command)} failed: {result.stderr.strip()}")
    ca_key.unlink()
    csr.unlink()


def _generate_tls_cryptography(ca_cert: Path, cert: Path, key: Path) -> None:
    import datetime as dt
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    later = now + dt.timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mailflow test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


# --------------------------------------------------------------------------------------------
# configuration


def _quote(value: str | Path) -> str:
    text = str(value)
    if any(ch in text for ch in '"\\\n'):
        raise DovecotError(f"unsupported character in a Dovecot setting value: {text!r}")
    return f'"{text}"'


def _config_v23(s: DovecotServer) -> str:
    return f"""\
# Generated by tests/support/dovecot.py for Dovecot {s.version_text}; nothing from /etc/dovecot.
base_dir = {_quote(s.run_dir)}
state_dir = {_quote(s.state_dir)}
instance_name = {_quote("mailflow-test-" + s.instance_id)}
log_path = {_quote(s.log_path)}
log_timestamp = "%Y-%m-%d %H:%M:%S "
auth_verbose = yes
listen = {s.host}
protocols = imap
login_greeting = Mailflow test Dovecot ready.
shutdown_clients = yes
# No stats process connections: they only slow down start and stop.
stats_writer_socket_path =

# Rootless: every process runs as the one unprivileged account that also owns the mail.
default_internal_user = {s.account_user}
default_internal_group = {s.account_group}
default_login_user = {s.account_user}
first_valid_uid = {s.account_uid}
last_valid_uid = {s.account_uid}
first_valid_gid = {s.account_gid}
last_valid_gid = {s.account_gid}

ssl = yes
ssl_cert = <{s.cert_path}
ssl_key = <{s.key_path}
ssl_min_protocol = TLSv1.2

disable_plaintext_auth = {"no" if s.allow_plaintext_auth else "yes"}
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = {s.auth_failure_delay} secs
auth_cache_size = 0
passdb {{
  driver = passwd-file
  args = username_format=%u {s.passwd_path}
  mechanisms = plain login
}}
passdb {{
  driver = passwd-file
  args = username_format=%u {s.tokens_path}
  mechanisms = xoauth2 oauthbearer
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {s.passwd_path}
}}

mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = {s.separator}
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
service anvil {{
  chroot ={s.anvil_penalty_listener}
}}
service auth-worker {{
  user = {s.account_user}
}}
"""


def _config_v24(s: DovecotServer) -> str:
    # Dovecot 2.4 renamed most of these settings; written from its documentation, exercised only
    # where 2.4 is installed (Debian 13). Debian 12 ships 2.3.
    return f"""\
# Generated by tests/support/dovecot.py for Dovecot {s.version_text}; nothing from /etc/dovecot.
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
base_dir = {_quote(s.run_dir)}
state_dir = {_quote(s.state_dir)}
instance_name = {_quote("mailflow-test-" + s.instance_id)}
log_path = {_quote(s.log_path)}
log_timestamp = "%Y-%m-%d %H:%M:%S "
auth_verbose = yes
listen = {s.host}
protocols = imap
login_greeting = Mailflow test Dovecot ready.
shutdown_clients = yes
# No stats process connections: they only slow down start and stop.
stats_writer_socket_path =

default_internal_user = {s.account_user}
default_internal_group = {s.account_group}
default_login_user = {s.account_user}
first_valid_uid = {s.account_uid}
last_valid_uid = {s.account_uid}
first_valid_gid = {s.account_gid}
last_valid_gid = {s.account_gid}

ssl = yes
ssl_server_cert_file = {_quote(s.cert_path)}
ssl_server_key_file = {_quote(s.key_path)}
ssl_min_protocol = TLSv1.2

auth_allow_cleartext = {"yes" if s.allow_plaintext_auth else "no"}
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = {s.auth_failure_delay} secs
auth_cache_size = 0
passdb passwords {{
  driver = passwd-file
  passwd_file_path = {_quote(s.passwd_path)}
  mechanisms_filter = plain login
}}
passdb tokens {{
  driver = passwd-file
  passwd_file_path = {_quote(s.tokens_path)}
  mechanisms_filter = xoauth2 oauthbearer
}}
userdb users {{
  driver = passwd-file
  passwd_file_path = {_quote(s.passwd_path)}
}}

mail_driver = maildir
mail_path = ~/Maildir
namespace inbox {{
  inbox = yes
  separator = {s.separator}
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
service anvil {{
  chroot ={s.anvil_penalty_listener}
}}
service auth-worker {{
  user = {s.account_user}
}}
"""


# --------------------------------------------------------------------------------------------
# the server


class DovecotServer:
    """One Dovecot instance with its own configuration, TLS material, users and mail."""

    separator = "/"

    def __init__(
        self,
        base_dir: Path,
        *,
        host: str = "127.0.0.1",
        binary: Path | None = None,
        allow_plaintext_auth: bool = True,
        auth_failure_delay: int = 0,
        auth_penalty: bool = False,
    ) -> None:
        binary = binary or dovecot_binary()
        if binary is None:
            raise DovecotError(INSTALL_HINT)
        if host not in ("127.0.0.1", "::1", "localhost"):
            raise DovecotError(f"the test Dovecot listens on loopback only, not {host!r}")
        self.binary = binary
        self.version = dovecot_version(binary)
        self.version_text = ".".join(map(str, self.version))
        self.host = "127.0.0.1" if host == "localhost" else host
        self.allow_plaintext_auth = allow_plaintext_auth
        self.auth_failure_delay = int(auth_failure_delay)
        # Dovecot's anvil delays every login from an IP that failed recently (2 s doubling up to
        # 15 s): realistic, but it makes tests of wrong passwords slow. Without its socket
        # (mode 0 = not created) the auth process runs without the penalty.
        self.anvil_penalty_listener = (
            "" if auth_penalty else "\n  unix_listener anvil-auth-penalty {\n    mode = 0\n  }"
        )
        self.instance_id = secrets.token_hex(4)

        self.base_dir = Path(base_dir).resolve()
        if len(str(self.base_dir)) > _MAX_BASE_DIR_LEN:
            raise DovecotError(
                f"base_dir {self.base_dir} is too long for Dovecot's unix sockets; "
                "use a short directory such as tempfile.mkdtemp()"
            )
        self.run_dir = self.base_dir / "run"
        self.state_dir = self.base_dir / "state"
        self.home_root = self.base_dir / "home"
        self.auth_dir = self.base_dir / "auth"
        self.tls_dir = self.base_dir / "tls"
        self.config_path = self.base_dir / "dovecot.conf"
        self.log_path = self.base_dir / "dovecot.log"
        self.stderr_path = self.base_dir / "dovecot.stderr"
        self.passwd_path = self.auth_dir / "passwd"
        self.tokens_path = self.auth_dir / "oauth-tokens"

        (
            self.account_user,
            self.account_group,
            self.account_uid,
            self.account_gid,
        ) = _service_account()
        self._check_reachable(self.base_dir)

        self.imap_port = _free_port(self.host)
        self.imaps_port = _free_port(self.host)
        while self.imaps_port == self.imap_port:
            self.imaps_port = _free_port(self.host)

        self._users: dict[str, str] = {}
        self._tokens: dict[str, str] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._started_once = False

        for directory in (self.base_dir, self.state_dir, self.home_root, self.auth_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self.base_dir.chmod(0o755)
        self.cafile, self.cert_path, self.key_path = _generate_tls(self.tls_dir)
        self._write_passwd_files()
        self.config_path.write_text(self.config_text())
        self._chown_tree(self.base_dir)

    # ---- paths and configuration

    def config_text(self) -> str:
        return _config_v24(self) if self.version >= (2, 4) else _config_v23(self)

    def home(self, user: str) -> Path:
        return self.home_root / user

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The Maildir++ directory that holds ``folder`` of ``user``."""
        root = self.home(user) / "Maildir"
        if folder.upper() == "INBOX":
            return root
        return root / ("." + folder.replace(self.separator, "."))

    def _check_reachable(self, path: Path) -> None:
        """As root, every ancestor of base_dir must be searchable by the service account."""
        if os.geteuid() != 0:
            return
        for parent in [p for p in path.parents if p.exists()]:
            st = parent.stat()
            mode = st.st_mode
            ok = (
                mode & stat.S_IXOTH
                or (st.st_uid == self.account_uid and mode & stat.S_IXUSR)
                or (st.st_gid == self.account_gid and mode & stat.S_IXGRP)
            )
            if not ok:
                raise DovecotError(
                    f"{parent} is not searchable by {self.account_user}, who runs Dovecot; "
                    "put base_dir somewhere like tempfile.mkdtemp()"
                )

    def _chown_tree(self, root: Path) -> None:
        if os.geteuid() != 0:
            return
        os.chown(root, self.account_uid, self.account_gid)
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                os.chown(os.path.join(dirpath, name), self.account_uid, self.account_gid)

    def _write_file(self, path: Path, text: str, mode: int = 0o640) -> None:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text)
        tmp.chmod(mode)
        if os.geteuid() == 0:
            os.chown(tmp, self.account_uid, self.account_gid)
        # Dovecot re-reads a passwd-file when its mtime (whole seconds) or size changed: a second
        # change within the same second and of the same size must still move the mtime on.
        before = path.stat().st_mtime if path.exists() else 0.0
        tmp.replace(path)  # atomic
        stamp = max(time.time(), before + 1)
        os.utime(path, (stamp, stamp))

    def _write_passwd_files(self) -> None:
        def line(name: str, secret: str) -> str:
            encoded = base64.b64encode(secret.encode()).decode()
            return f"{name}:{{PLAIN.b64}}{encoded}::::{self.home(name)}::\n"

        self._write_file(self.passwd_path, "".join(line(n, p) for n, p in self._users.items()))
        self._write_file(self.tokens_path, "".join(line(n, t) for n, t in self._tokens.items()))
        if self.running:
            # Dovecot looks at a passwd-file at most once a second: a running server that just read
            # these would not see the change within that second, so wait the second out (once).
            time.sleep(1.1)

    # ---- users

    def add_user(self, name: str, password: str) -> None:
        """Add (or change the password of) a mail user; works while the server runs."""
        if not _NAME_RE.match(name):
            raise ValueError(f"unsupported test user name {name!r}")
        if not password or "\n" in password:
            raise ValueError("the password must be one non-empty line")
        self._users[name] = password
        home = self.home(name)
        home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            os.chown(home, self.account_uid, self.account_gid)
        self._write_passwd_files()

    def add_oauth_token(self, name: str, token: str) -> None:
        """Accept ``token`` as an XOAUTH2/OAUTHBEARER bearer token for existing user ``name``."""
        if name not in self._users:
            raise ValueError(f"add_user({name!r}, ...) first")
        if not token or not all(0x21 <= ord(ch) <= 0x7E for ch in token):
            raise ValueError("a bearer token is non-empty printable ASCII without spaces")
        self._tokens[name] = token
        self._write_passwd_files()

    def password(self, user: str) -> str:
        return self._users[user]

    @property
    def users(self) -> dict[str, str]:
        return dict(self._users)

    # ---- process control

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout: float = 20.0) -> None:
        """Start Dovecot and wait until the IMAP greeting has been read on the plain port.

        On the first start only, a port taken by someone else between choosing it and Dovecot
        binding it is replaced by another free port (a restart keeps its ports).
        """
        if self.running:
            return
        for attempt in range(3):
            try:
                self._start(timeout)
            except DovecotError as exc:
                if self._started_once or attempt == 2 or "Address already in use" not in str(exc):
                    raise
                self.imap_port, self.imaps_port = _free_port(self.host), _free_port(self.host)
                self._write_file(self.config_path, self.config_text(), mode=0o644)
            else:
                self._started_once = True
                return

    def _start(self, timeout: float) -> None:
        command = [str(self.binary), "-F", "-c", str(self.config_path)]
        as_root = os.geteuid() == 0
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "LANG": "C"}
        with open(self.stderr_path, "ab") as stderr:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                cwd=self.base_dir,
                env=env,
                start_new_session=True,
                preexec_fn=_set_parent_death_signal,
                user=self.account_uid if as_root else None,
                group=self.account_gid if as_root else None,
                extra_groups=[] if as_root else None,
            )
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                code = self._process.returncode
                self._process = None
                raise DovecotError(self._failure(f"Dovecot exited with status {code} while starting"))
            try:
                self._read_greeting()
                with socket.create_connection((self.host, self.imaps_port), timeout=2):
                    pass
                return
            except OSError as exc:
                last_error = exc
                time.sleep(0.05)
        self.stop(graceful=False)
        raise DovecotError(self._failure(f"Dovecot did not greet within {timeout:g}s ({last_error})"))

    def _read_greeting(self) -> bytes:
        with socket.create_connection((self.host, self.imap_port), timeout=2) as sock:
            sock.settimeout(2)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("connection closed before the greeting")
                data += chunk
            if not data.startswith(b"* OK"):
                raise ConnectionError(f"unexpected greeting {data!r}")
            return data

    def stop(self, timeout: float = 15.0, *, graceful: bool = True) -> None:
        """Stop Dovecot and wait until none of its processes is left; idempotent.

        Graceful: SIGTERM to the master (it waits about a second for its children), then
        SIGTERM to whatever of its process group is left: mail processes of logged-in clients
        would otherwise linger for ten seconds. Clients see "* BYE Server shutting down" or
        EOF. Not graceful: SIGKILL to the whole group, a crash. Anything still alive after
        ``timeout`` is killed.
        """
        process, self._process = self._process, None
        if process is None:
            return
        pgid = process.pid  # start_new_session: the master leads its own process group
        if graceful:
            # The master alone would wait a second or more for its children, or up to six
            # seconds for one that is mid-handshake, and leaves the mail processes of logged-in
            # clients behind for ten: signal them all at once, as systemd does, except the log
            # process (last, so that the others' farewells reach dovecot.log).
            process.terminate()
            master_deadline = time.monotonic() + timeout
            while time.monotonic() < master_deadline:
                # again and again: a child forked a moment ago may have missed the signal
                self._signal_group(pgid, signal.SIGTERM, log_process=False)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=0.5)
                    break
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout)
        deadline = time.monotonic() + timeout
        # The log process goes last, so that the others' farewells reach dovecot.log.
        for last in (False, True):
            self._signal_group(pgid, signal.SIGTERM if graceful else signal.SIGKILL, log_process=last)
            while time.monotonic() < deadline and any(
                _is_log_process(pid) == last for pid in live_processes_in_group(pgid)
            ):
                time.sleep(0.02)
        for pid in live_processes_in_group(pgid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    @staticmethod
    def _signal_group(pgid: int, signum: int, *, log_process: bool) -> None:
        """Signal the live members of the group that are (or are not) Dovecot's log process."""
        for pid in live_processes_in_group(pgid):
            if _is_log_process(pid) == log_process:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    def restart(self, timeout: float = 20.0, *, graceful: bool = True) -> None:
        """Stop and start again with the same configuration, ports, users and mail.

        ``graceful=False`` simulates a crash (SIGKILL) instead of an orderly shutdown.
        """
        self.stop(graceful=graceful)
        self.start(timeout=timeout)

    def __enter__(self) -> DovecotServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop(graceful=False)

    # ---- logs

    def log_text(self) -> str:
        parts = []
        for path in (self.stderr_path, self.log_path):
            with contextlib.suppress(FileNotFoundError):
                parts.append(path.read_text(errors="replace"))
        return "".join(parts)

    def _failure(self, message: str) -> str:
        tail = "\n".join(self.log_text().splitlines()[-_LOG_TAIL_LINES:])
        return f"{message}\nconfig: {self.config_path}\n--- tail of Dovecot's log ---\n{tail}"

    # ---- clients

    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's throw-away CA (hostname checked)."""
        return ssl.create_default_context(cafile=str(self.cafile))

    def client(self, tls: str = "starttls", timeout: float = 30.0) -> IMAPClient:
        """An IMAPClient connected but not logged in; tls is "starttls", "imaps" or "none"."""
        if tls == "imaps":
            return IMAPClient(self.host, self.imaps_port, ssl=True, ssl_context=self.ssl_context(), timeout=timeout)
        client = IMAPClient(self.host, self.imap_port, ssl=False, timeout=timeout)
        if tls == "starttls":
            client.starttls(self.ssl_context())
        elif tls != "none":
            client.shutdown()
            raise ValueError(f"tls must be starttls, imaps or none, not {tls!r}")
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

    # ---- mail

    def create_folder(self, user: str, folder: str) -> None:
        with self.login(user) as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            client.subscribe_folder(folder)

    def append(
        self,
        user: str,
        folder: str,
        raw: bytes,
        flags: Sequence[str | bytes] = (),
        msg_time: datetime | None = None,
    ) -> int:
        """APPEND one message over IMAP; returns its UID."""
        with self.login(user) as client:
            response = client.append(folder, raw, flags=tuple(flags), msg_time=msg_time)
        return _appended_uids(response)[0]

    def append_many(
        self, user: str, folder: str, messages: Iterable[bytes], flags: Sequence[str | bytes] = ()
    ) -> list[int]:
        """APPEND many messages on one connection with MULTIAPPEND; returns their UIDs."""
        uids: list[int] = []
        batch: list[dict[str, object]] = []
        with self.login(user) as client:
            for raw in messages:
                batch.append({"msg": raw, "flags": tuple(flags)})
                if len(batch) == 200:
                    uids += _appended_uids(client.multiappend(folder, batch))
                    batch = []
            if batch:
                uids += _appended_uids(client.multiappend(folder, batch))
        return uids

    def uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        with self.login(user) as client:
            status = client.folder_status(folder, [b"UIDVALIDITY"])
        return int(status[b"UIDVALIDITY"])

    def reset_uidvalidity(self, user: str, folder: str = "INBOX") -> int:
        """Make Dovecot give ``folder`` a new UIDVALIDITY, keeping its messages (re-numbered).

        Dovecot is stopped, the folder's dovecot-uidlist and index files (and the mailbox list
        index that caches STATUS) are deleted, and Dovecot is started again: it rescans the
        Maildir and assigns a fresh UIDVALIDITY taken from the increasing counter in
        Maildir/dovecot-uidvalidity. Returns the new UIDVALIDITY, checked to differ.
        """
        was_running = self.running
        if not was_running:
            self.start()
        before = self.uidvalidity(user, folder)
        box, root = self.maildir(user, folder), self.home(user) / "Maildir"
        if not (box / "cur").is_dir():
            raise DovecotError(f"no Maildir for {user}/{folder} at {box}")
        self.stop()  # clients still connected are disconnected
        try:
            doomed = list(box.glob("dovecot-uidlist*")) + list(box.glob("dovecot.index*"))
            doomed += list(root.glob("dovecot.list.index*"))
            for path in doomed:
                path.unlink()
        finally:
            self.start()
        after = self.uidvalidity(user, folder)
        if not was_running:
            self.stop()
        if after == before:
            raise DovecotError(f"UIDVALIDITY of {user}/{folder} stayed {before} after the reset")
        return after


def _appended_uids(response: object) -> list[int]:
    """UIDs from an APPEND response: bytes from ``append``, (typ, [data]) from ``multiappend``."""
    if isinstance(response, tuple):
        response = b" ".join(part for part in response[1] if isinstance(part, bytes))
    if isinstance(response, str):
        response = response.encode()
    if not isinstance(response, bytes):
        raise DovecotError(f"unexpected APPEND response {response!r}")
    data = response
    match = _APPENDUID_RE.search(data)
    if not match:
        raise DovecotError(f"no APPENDUID in the APPEND response {data!r}")
    uids: list[int] = []
    for part in match.group(2).decode().split(","):
        low, _, high = part.partition(":")
        uids.extend(range(int(low), int(high or low) + 1))
    return uids


# --------------------------------------------------------------------------------------------
# pytest glue


@contextlib.contextmanager
def dovecot_server(**options: object) -> Iterator[DovecotServer]:
    """A started DovecotServer in a fresh temporary directory, stopped and removed afterwards.

    Skips (or fails under MAILFLOW_STRICT) when Dovecot is not installed.
    """
    if dovecot_binary() is None:
        unavailable(INSTALL_HINT)
    base_dir = Path(tempfile.mkdtemp(prefix="mailflow-dovecot-"))
    server: DovecotServer | None = None
    try:
        server = DovecotServer(base_dir, **options)  # type: ignore[arg-type]
        server.start()
        yield server
    finally:
        if server is not None:
            server.stop(graceful=False)  # the mail is thrown away: no need to wait for a shutdown
        shutil.rmtree(base_dir, ignore_errors=True)


@pytest.fixture(name="dovecot")
def dovecot_fixture(tmp_path: Path) -> Iterator[DovecotServer]:
    """A fresh, started Dovecot for one test; its log is left in the test's tmp_path."""
    with dovecot_server() as server:
        try:
            yield server
        finally:
            server.stop(graceful=False)
            with contextlib.suppress(OSError):
                (tmp_path / "dovecot.log").write_text(server.log_text())
