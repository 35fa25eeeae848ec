"""The real servers the suite talks to: PostgreSQL, Redis and RabbitMQ on this machine.

Each check connects for real. Missing servers skip on a developer machine and fail in CI
(``tests.support.strict``).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

from tests.support.strict import unavailable

PG_ADMIN_URL = os.environ.get("MAILFLOW_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# One Redis database per pytest-xdist worker (gw0 -> 15, gw1 -> 14, ...): the queues of tests running
# side by side stay apart. RabbitMQ has one namespace here: its tests share one worker (tests/conftest.py).
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REDIS_URL = os.environ.get("MAILFLOW_TEST_REDIS", f"redis://127.0.0.1:6379/{15 - _WORKER % 16}")
AMQP_URL = os.environ.get("MAILFLOW_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672/%2F")


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@cache
def postgres_reason() -> str | None:
    import psycopg

    url = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL not reachable at {url}: {exc.__class__.__name__}"
    return None


@cache
def redis_reason() -> str | None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis not reachable at {REDIS_URL}: {exc.__class__.__name__}"
    return None


@cache
def rabbitmq_reason() -> str | None:
    if not _port_open("127.0.0.1", 5672):
        return "RabbitMQ not reachable at 127.0.0.1:5672"
    import pika

    try:
        pika.BlockingConnection(pika.URLParameters(AMQP_URL)).close()
    except Exception as exc:
        return f"RabbitMQ refused a connection: {exc.__class__.__name__}"
    return None


def require(reason: str | None) -> None:
    if reason:
        unavailable(reason)


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A throw-away database on the PostgreSQL server; dropped afterwards."""
    import psycopg

    require(postgres_reason())
    admin = PG_ADMIN_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"mailflow_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
