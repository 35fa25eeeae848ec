"""Fixtures: each backend combination is a real server on this machine (see tests/support)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import hypothesis  # noqa: F401  (see below)
import pytest
import trustme

from tests.support import services
from tests.support.dovecot import dovecot_fixture  # noqa: F401  (the "dovecot" fixture)
from tests.support.stack import Stack
from tests.support.tls import ServerTls, issue_server_tls

# hypothesis is imported here, before any test runs: otherwise its pytest plugin imports it at the
# end of a session that ran no property test, pytest rewrites its modules then (ast.parse), and on
# this CPython 3.11 that failed after every test had passed, with threads of earlier tests still
# about ("SystemError: AST constructor recursion depth mismatch", python/cpython#106905).

# name -> (database, broker)
STACKS = {
    "sqlite+stub": ("sqlite", "stub"),
    "postgres+redis": ("postgres", "redis"),
    "postgres+rabbitmq": ("postgres", "rabbitmq"),
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n`` (make test), the tests on RabbitMQ run one after another on one worker:
    they share the server's one vhost and dramatiq's queue names. (Redis: one database per worker.)"""
    for item in items:
        params = getattr(item, "callspec", None)
        if params is not None and any("rabbitmq" in str(value) for value in params.params.values()):
            item.add_marker(pytest.mark.xdist_group("rabbitmq"))


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """The one throw-away certificate authority of the test session: every TLS server the tests run
    has a certificate from it (tests/support/tls.py)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> ServerTls:
    """A certificate for 127.0.0.1/localhost from ``tls_ca``, in files, for the session's listeners."""
    return issue_server_tls(tls_ca, tmp_path_factory.mktemp("tls"))


def _build(name: str, tmp_path: Path, exits: ExitStack) -> Stack:
    database, broker = STACKS.get(name, (name, "stub"))
    db_url = None
    if database == "postgres":
        db_url = exits.enter_context(services.fresh_postgres_database())
    broker_url = "stub://"
    if broker == "redis":
        services.require(services.redis_reason())
        broker_url = services.REDIS_URL
    elif broker == "rabbitmq":
        services.require(services.rabbitmq_reason())
        broker_url = services.AMQP_URL
    stack = Stack(name, tmp_path, db_url, broker_url)
    exits.callback(stack.stop_all)
    return stack


@pytest.fixture(params=list(STACKS))
def stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The whole service on every supported combination of database and broker."""
    with ExitStack() as exits:
        yield _build(request.param, tmp_path, exits)


@pytest.fixture(params=["sqlite+stub", "postgres+redis"])
def ends_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """The two ends of a deployment: embedded (SQLite, in-process broker) and scaled out
    (Postgres and Redis): for whole workflows, where the matrix's third leg adds nothing."""
    with ExitStack() as exits:
        yield _build(request.param, tmp_path, exits)


@pytest.fixture(params=["sqlite", "postgres"])
def db_stack(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stack]:
    """Both databases, in-process broker: for tests of database logic."""
    with ExitStack() as exits:
        yield _build(request.param, tmp_path, exits)


@pytest.fixture
def sqlite_stack(tmp_path: Path) -> Iterator[Stack]:
    """The embedded default only: for heavy corpus runs repeated elsewhere on Postgres."""
    with ExitStack() as exits:
        yield _build("sqlite+stub", tmp_path, exits)
