"""Embedded worker processes: the in-process dramatiq worker, run in child processes of ``mailflow serve``.

With ``[queue] worker_processes = N`` (and the in-process broker) the listeners stay in the parent
and the processing moves to N children, so that a machine's cores all work. The parent hands each
child the ids it spooled (id modulo N) on the child's standard input, after the settings as one
line of JSON; each child runs the same actors on its own in-memory broker. A child sweeps its share
of the database when it starts and then periodically, so a child that dies loses nothing: the
replacement the parent starts resumes its share.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import IO, Any

from dramatiq import Worker
from pydantic import SecretStr

from mailflow.config import Settings, settings_from_mapping
from mailflow.runtime import Runtime
from mailflow.sweep import sweep

log = logging.getLogger(__name__)


def settings_to_json(settings: Settings) -> str:
    def reveal(value: Any) -> Any:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, dict):
            return {k: reveal(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [reveal(v) for v in value]
        return value

    return json.dumps(reveal(settings.model_dump(mode="python")), default=str)


# -- the child ---------------------------------------------------------------------------------

NICENESS = 5
"""Children run at a lower priority than the listeners: when the cores are busy, answering the
clients (the 250 after the spool's commit) goes first, and processing catches up after the burst."""


def run_child(stream: IO[bytes], share: tuple[int, int]) -> None:
    """The body of ``mailflow worker --share K/N``: read settings, then ids, until end of input."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the parent decides
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    settings = settings_from_mapping(json.loads(stream.readline()))
    runtime = Runtime.build(settings, run_migrations=False).install()
    worker = Worker(runtime.broker, worker_threads=settings.queue.worker_threads)
    worker.start()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    sweep(runtime, min_age=timedelta(0), share=share)
    sweeper = threading.Thread(target=_sweep_forever, args=(runtime, share, stopping), daemon=True)
    sweeper.start()
    try:
        for line in stream:
            if stopping.is_set():
                break
            if line.strip():
                runtime.enqueue_inbound([int(word) for word in line.split()])
    finally:
        stopping.set()
        runtime.broker.join("intake", timeout=60_000)  # finish what was handed over before leaving
        worker.stop()
        runtime.close()


def _sweep_forever(runtime: Runtime, share: tuple[int, int], stopping: threading.Event) -> None:
    interval = runtime.settings.queue.sweep_seconds
    while not stopping.wait(interval):
        try:
            sweep(runtime, min_age=timedelta(seconds=max(5 * interval, 10)), share=share)
        except Exception:
            log.exception("sweep failed")


# -- the parent --------------------------------------------------------------------------------


class WorkerProcesses:
    """N children, kept alive; ids go to child ``id % N``."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._settings_line = (settings_to_json(settings) + "\n").encode()
        self._count = count
        self._children: list[subprocess.Popen[bytes] | None] = [None] * count
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._monitor = threading.Thread(target=self._watch, name="worker-monitor", daemon=True)

    def start(self) -> WorkerProcesses:
        for index in range(self._count):
            self._spawn(index)
        self._monitor.start()
        return self

    def _spawn(self, index: int) -> None:
        child = subprocess.Popen(
            [sys.executable, "-m", "mailflow", "worker", "--share", f"{index}/{self._count}"],
            stdin=subprocess.PIPE,
        )
        assert child.stdin is not None
        child.stdin.write(self._settings_line)
        child.stdin.flush()
        self._children[index] = child

    def hand_over(self, inbound_ids: Sequence[int]) -> None:
        """One line of ids per child: each line is one batch for that child's intake actor."""
        shares: dict[int, list[int]] = {}
        for inbound_id in inbound_ids:
            shares.setdefault(inbound_id % self._count, []).append(inbound_id)
        with self._lock:
            for index, ids in shares.items():
                child = self._children[index]
                if child is None or child.stdin is None:
                    continue  # the replacement's sweep will find them
                with contextlib.suppress(BrokenPipeError, ValueError):
                    child.stdin.write((" ".join(map(str, ids)) + "\n").encode())
                    child.stdin.flush()

    def _watch(self) -> None:
        while not self._stopping.wait(1.0):
            with self._lock:
                for index, child in enumerate(self._children):
                    if child is not None and child.poll() is not None and not self._stopping.is_set():
                        log.warning("worker process %d exited with %s; starting another", index, child.returncode)
                        self._spawn(index)

    def stop(self, timeout: float = 60) -> None:
        self._stopping.set()
        with self._lock:
            children = [c for c in self._children if c is not None]
            for child in children:
                if child.stdin is not None:
                    with contextlib.suppress(BrokenPipeError):
                        child.stdin.close()
        for child in children:
            try:
                child.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
