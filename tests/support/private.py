"""Throw-away servers a fault test starts, breaks and restarts itself, so that nothing shared is
disturbed: a PostgreSQL cluster (Debian's binaries, initdb in a temporary directory, run as the
``postgres`` user when we are root) and a redis-server, each on a free loopback port. Stopped by
the test that started them."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.sink import free_port
from tests.support.strict import unavailable


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _as_postgres() -> dict[str, object]:
    """Run the server as ``postgres`` when we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return {}
    user = pwd.getpwnam("postgres")
    return {"user": user.pw_uid, "group": user.pw_gid}


class PrivatePostgres:
    def __init__(self, *, fsync: bool = False) -> None:
        """``fsync`` off for tests (nothing to keep across a power cut); on for benchmarks."""
        bindir = _pg_bin()
        if bindir is None or not shutil.which("initdb", path=str(bindir)):
            unavailable("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
        assert bindir is not None
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="mailflow-pg-"))
        os.chmod(self.root, 0o777)
        self.data = self.root / "data"
        self.port = free_port()
        self._run([
            str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync",
        ])  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(
                f"listen_addresses = '127.0.0.1'\nport = {self.port}\nunix_socket_directories = '{self.root}'\n"
                + ("" if fsync else "fsync = off\nfull_page_writes = off\n")
                + "max_connections = 100\n"
            )

    def _run(self, argv: list[str]) -> None:
        subprocess.run(argv, check=True, capture_output=True, **_as_postgres())  # type: ignore[call-overload]

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"

    def start(self) -> PrivatePostgres:
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"), "-w", "start"])
        return self

    def stop(self, mode: str = "fast") -> None:
        subprocess.run(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
            capture_output=True,
            **_as_postgres(),  # type: ignore[arg-type]
        )

    def restart(self, down_for: float = 0.0) -> None:
        self.stop("fast")
        time.sleep(down_for)
        self.start()

    def kill_connections(self, database: str) -> int:
        """Terminate every backend of ``database`` (as a failover or an administrator would)."""
        import psycopg

        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (database,),
            ).fetchall()
        return len(rows)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRedis:
    def __init__(self) -> None:
        if not shutil.which("redis-server"):
            unavailable("redis-server is not installed")
        self.root = Path(tempfile.mkdtemp(prefix="mailflow-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.process = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--dir", str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        import redis

        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=1).ping()
                return self
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)  # a crash: what was queued in memory is gone
            self.process.wait()
        self.process = None

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class PrivateRabbitmq:
    """A RabbitMQ node of its own (its own node name, ports, data and cookie under a temporary
    directory; Debian's rabbitmq-server), started in a process group of its own so that stopping it
    stops exactly what was started. A restart keeps its data directory (durable queues survive)."""

    def __init__(self) -> None:
        if not shutil.which("rabbitmq-server"):
            unavailable("rabbitmq-server is not installed")
        self.root = Path(tempfile.mkdtemp(prefix="mailflow-rabbitmq-"))
        os.chmod(self.root, 0o777)
        (self.root / "plugins").write_text("")
        os.chmod(self.root / "plugins", 0o666)
        self.port, self.dist_port = free_port(), free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/%2F"

    def _env(self) -> dict[str, str]:
        r = str(self.root)
        return {
            **os.environ,
            "HOME": r,
            "RABBITMQ_NODENAME": f"mailflow-test-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": f"{r}/mnesia",
            "RABBITMQ_MNESIA_DIR": f"{r}/mnesia/node",
            "RABBITMQ_LOG_BASE": f"{r}/log",
            "RABBITMQ_ENABLED_PLUGINS_FILE": f"{r}/plugins",
            "RABBITMQ_PID_FILE": f"{r}/pid",
            "RABBITMQ_FEATURE_FLAGS_FILE": f"{r}/feature_flags",
            "RABBITMQ_QUORUM_DIR": f"{r}/quorum",
            "RABBITMQ_GENERATED_CONFIG_DIR": f"{r}/generated",
            "RABBITMQ_SCHEMA_DIR": f"{r}/schema",
            "RABBITMQ_PLUGINS_EXPAND_DIR": f"{r}/expand",
            "RABBITMQ_CONFIG_FILE": f"{r}/rabbitmq",
            "RABBITMQ_ADVANCED_CONFIG_FILE": f"{r}/advanced.config",
        }

    def start(self, timeout: float = 60) -> PrivateRabbitmq:
        self.process = subprocess.Popen(
            ["rabbitmq-server"],
            env=self._env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        import pika

        deadline = time.monotonic() + timeout
        while True:
            try:
                pika.BlockingConnection(pika.URLParameters(self.url)).close()
                return self
            except Exception:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    unavailable("a private RabbitMQ node did not start")
                time.sleep(0.25)

    def stop(self) -> None:
        """kill -9 of the node (its pid file names it: the Erlang VM runs as the rabbitmq user,
        outside the starting script's process group), then of the script's group."""
        if self.process is None:
            return
        pid_file = self.root / "pid"
        if pid_file.exists() and pid_file.read_text().strip().isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        self.process = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                time.sleep(0.1)
            except OSError:
                return

    def restart(self, down_for: float = 0.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
