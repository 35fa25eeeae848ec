"""Prometheus metrics: the figures of ``mailflow status`` read from the database at each scrape,
and counters and latency histograms of intake, processing and delivery recorded where they happen.

With ``[metrics] listen = "127.0.0.1:9464"``, ``mailflow serve`` serves ``/metrics`` there
(:func:`serve`). What is read from the database on a scrape (:class:`DatabaseFigures`, the same
queries as ``mailflow status``, :mod:`mailflow.health`): messages waiting and the oldest one's
age, the outbox by state, quarantined, unplaced and held mail, alerts waiting for the chairs, and
whether intake has room. What is counted in the process (one call at each place: the spool's
commit, the pipeline's batch, the sender's batch and each outcome): messages taken in, processed
(by outcome), delivery attempts (by outcome), and how long each took.

The counters live in the process that does the work. With the embedded worker threads (the
default) that is ``mailflow serve`` itself; ``[queue] worker_processes`` children and separate
``dramatiq`` workers count in their own processes, which this endpoint does not gather (the
database figures cover every process). No label carries an address, a subject or a case.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=Sequence[Any])

REGISTRY = CollectorRegistry(auto_describe=True)
"""Mailflow's own registry (not the client's global one): only our metrics, served by :func:`serve`."""

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

INTAKE = Counter("mailflow_intake_messages", "Messages committed to the spool (new bytes only)", registry=REGISTRY)
INTAKE_DUPLICATES = Counter(
    "mailflow_intake_duplicates", "Messages whose bytes were already in the spool", registry=REGISTRY
)
INTAKE_SECONDS = Histogram(
    "mailflow_intake_commit_seconds", "Time to commit a batch to the spool (durable)", buckets=_LATENCY,
    registry=REGISTRY,
)  # fmt: skip
PROCESSED = Counter(
    "mailflow_processed_messages", "Inbound messages processed, by outcome", ["state"], registry=REGISTRY
)
PROCESSING_SECONDS = Histogram(
    "mailflow_processing_batch_seconds", "Time to process a batch of inbound messages (parse to outbox)",
    buckets=_LATENCY, registry=REGISTRY,
)  # fmt: skip
DELIVERIES = Counter(
    "mailflow_delivery_attempts", "Outgoing mails handed to the transport, by outcome", ["state"], registry=REGISTRY
)
DELIVERY_SECONDS = Histogram(
    "mailflow_delivery_batch_seconds", "Time to claim, hand over and record a batch of outgoing mail",
    buckets=_LATENCY, registry=REGISTRY,
)  # fmt: skip


def _state(value: Any) -> str:
    return str(getattr(value, "value", value))


# -- the calls in the spool, the pipeline and the sender (one each) ----------------------------------


def spooled(fn: Callable[P, S]) -> Callable[P, S]:
    """Around ``Spool.accept_many``: the commit's time, and how many were new or already there."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> S:
        started = time.perf_counter()
        results = fn(*args, **kwargs)
        INTAKE_SECONDS.observe(time.perf_counter() - started)
        new = sum(1 for r in results if getattr(r, "new", False))
        INTAKE.inc(new)
        INTAKE_DUPLICATES.inc(len(results) - new)
        return results

    return wrapper


def processed(fn: Callable[P, S]) -> Callable[P, S]:
    """Around ``pipeline.process_batch``: the batch's time, and each message's outcome."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> S:
        started = time.perf_counter()
        outcomes = fn(*args, **kwargs)
        PROCESSING_SECONDS.observe(time.perf_counter() - started)
        for outcome in outcomes:
            PROCESSED.labels(_state(getattr(outcome, "state", "unknown"))).inc()
        return outcomes

    return wrapper


def timed_delivery(fn: Callable[P, R]) -> Callable[P, R]:
    """Around ``sender.send_batch``: the batch's time."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            DELIVERY_SECONDS.observe(time.perf_counter() - started)

    return wrapper


def delivered(state: Any) -> None:
    """One outgoing mail's outcome after a hand-over (sent, retry, failed ...)."""
    DELIVERIES.labels(_state(state)).inc()
