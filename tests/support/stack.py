"""A configured mailflow under test: settings on a chosen database and broker, a running service,
and the means to wait for it and look inside. Servers are real (loopback sockets); nothing mocked."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlmodel import Session

from mailflow.config import Settings, settings_from_mapping
from mailflow.database import engine_for, migrate
from mailflow.model import (
    Case,
    InboundMessage,
    InboundState,
    OutboundMessage,
    OutboundState,
)
from mailflow.service import Service
from tests.support.crypt import default_storage

CONDUCT = "conduct@example.org"

ROSTER = [
    {"name": "Ada Chair", "addresses": ["ada@committee.example"], "role": "chair"},
    {"name": "Bo Member", "addresses": ["bo@committee.example"], "role": "member"},
    {"name": "Cy Member", "addresses": ["cy@committee.example", "cy.other@example.net"], "role": "member"},
]


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def make_settings(tmp: Path, db_url: str | None, broker_url: str = "stub://", **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "service": {
            "data_dir": str(tmp / "data"),
            "conduct_address": CONDUCT,
            "committee_name": "Example CoC Committee",
        },
        "database": {"url": db_url} if db_url else {},
        "queue": {
            "broker_url": broker_url,
            "embedded_worker": True,
            "worker_threads": 2,
            # Threads in the serve process: most tests look at one process. The default (child
            # processes beside the listeners) is run by tests/e2e/test_processes.py and test_faults.py.
            "worker_processes": 0,
            "sweep_seconds": 0.5,
        },
        "intake": {"smtp_listen": "127.0.0.1:0", "lmtp_listen": "127.0.0.1:0"},
        "outgoing": {"transport": f"maildir:{tmp / 'outgoing'}", "retry_base_seconds": 0.2},
        "committee": {"members": ROSTER},
        **default_storage(tmp),
    }
    return settings_from_mapping(_deep_merge(data, overrides))


@dataclass
class Stack:
    name: str
    tmp: Path
    db_url: str | None
    broker_url: str
    defaults: dict[str, Any] = field(default_factory=dict)
    """Settings every ``settings()`` of this stack has unless overridden (e.g. its encryption keys)."""
    _engine: Engine | None = field(default=None, repr=False)
    _services: list[Service] = field(default_factory=list, repr=False)

    def settings(self, **overrides: Any) -> Settings:
        return make_settings(self.tmp, self.db_url, self.broker_url, **_deep_merge(self.defaults, overrides))

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine_for(self.settings())
            migrate(self._engine)
        return self._engine

    @property
    def maildir(self) -> Path:
        return self.tmp / "outgoing"

    def start(self, settings: Settings | None = None, **kwargs: Any) -> Service:
        service = Service(settings or self.settings(), **kwargs)
        service.runtime.broker.flush_all()
        self._services.append(service)
        return service.start()

    def stop_all(self) -> None:
        while self._services:
            self._services.pop().stop()
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None  # made again, with the settings of then, when next asked for

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def count(self, model: Any, *where: Any) -> int:
        with self.session() as session:
            return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 60, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def wait_idle(self, timeout: float = 120) -> None:
        """Until every spooled message is processed and every due mail has left."""

        def idle() -> bool:
            pending_in = self.count(InboundMessage, InboundMessage.state == InboundState.RECEIVED)
            pending_out = self.count(
                OutboundMessage,
                OutboundMessage.state.in_([OutboundState.QUEUED, OutboundState.SENDING]),  # type: ignore[attr-defined]
            )
            return pending_in == 0 and pending_out == 0

        self.wait_until(idle, timeout, "the service to finish its work")

    def cases(self) -> list[Case]:
        with self.session() as session:
            return list(session.scalars(select(Case).order_by(Case.id)))  # type: ignore[arg-type]

    def outbound(self) -> list[OutboundMessage]:
        with self.session() as session:
            return list(session.scalars(select(OutboundMessage).order_by(OutboundMessage.id)))  # type: ignore[arg-type]

    def outbound_states(self) -> list[OutboundState]:
        return [o.state for o in self.outbound()]

    def delivered(self) -> list[bytes]:
        new = self.maildir / "new"
        return [p.read_bytes() for p in sorted(new.iterdir())] if new.is_dir() else []


def send(port: int, raw: bytes, *, sender: str = "jane@example.net", to: tuple[str, ...] = (CONDUCT,)) -> Any:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(sender, list(to), raw)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(path: Path, settings: Settings) -> Path:
    """The settings as a TOML file, for tests that run the ``mailflow`` command itself."""
    data = settings.model_dump(mode="json", exclude_none=True)
    lines: list[str] = []
    members = data.pop("committee", {}).get("members", [])
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    for member in members:
        lines.append("[[committee.members]]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in member.items()]
        lines.append("")
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
