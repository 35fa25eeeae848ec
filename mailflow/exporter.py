"""``/metrics`` for Prometheus: the figures of ``mailflow status`` read from the database at each
scrape, beside the process's counters (``mailflow.metrics``).

With ``[metrics] listen = "127.0.0.1:9464"``, ``mailflow serve`` serves ``/metrics`` there
(:func:`serve`). What is read from the database on a scrape (:class:`DatabaseFigures`, the same
queries as ``mailflow status``, :mod:`mailflow.health`): messages waiting and the oldest one's
age, the outbox by state, quarantined, unplaced and held mail, alerts waiting for the chairs, and
whether intake has room. No label carries an address, a subject or a case.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from mailflow import health
from mailflow.errors import TemporaryFailure
from mailflow.metrics import REGISTRY

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from sqlalchemy import Engine

    from mailflow.config import Settings

log = logging.getLogger(__name__)


# -- what the database says, on each scrape ----------------------------------------------------------


class DatabaseFigures(Collector):
    """``mailflow status``'s figures as gauges, read when Prometheus scrapes (a few indexed counts)."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine

    def describe(self) -> list[Metric]:
        return []  # computed on collect: nothing to read at registration

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("mailflow_database_up", "1 when the last scrape could read the database")
        try:
            report = health.figures(self.settings, self.engine)
        except TemporaryFailure:
            log.warning("metrics: the database could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield _gauge("mailflow_inbound_waiting", "Messages stored and not yet processed", report["inbound_waiting"])
        oldest = report["oldest_waiting_seconds"]
        yield _gauge("mailflow_inbound_oldest_waiting_seconds", "Age of the oldest message waiting (0: none)",
                     oldest or 0)  # fmt: skip
        yield _gauge("mailflow_quarantined_messages", "Messages that could not be processed", report["quarantined"])
        yield _gauge("mailflow_unplaced_messages", "Stored messages that belong to no case", report["unplaced"])
        yield _gauge("mailflow_held_messages", "Outgoing mail the policy gate holds", report["held"])
        outbox = GaugeMetricFamily("mailflow_outbox_messages", "Outgoing mail by state", labels=["state"])
        for state in ("queued", "sending", "retry", "sent", "failed", "held", "bounced"):
            outbox.add_metric([state], report["outbox"].get(state, 0))
        yield outbox
        alerts = GaugeMetricFamily("mailflow_alerts_waiting", "Alerts the chairs have not had yet", labels=["kind"])
        kinds = ("unplaced", "quarantined", "held", "delivery_failed", "bounced", "overdue", "too_complex")
        for kind in sorted({*kinds, *report["alerts_waiting"]}):
            alerts.add_metric([kind], report["alerts_waiting"].get(kind, 0))
        yield alerts
        room = report["intake_space"]
        yield _gauge("mailflow_intake_space_ok", "1 when intake has the free space it needs", int(bool(room["ok"])))
        if room.get("free") is not None:
            yield _gauge("mailflow_intake_free_bytes", "Free space where the spool writes", room["free"])
        yield _gauge(
            "mailflow_needs_a_person", "1 when mailflow status would exit 1", int(health.needs_a_person(report))
        )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def serve(settings: Settings, engine: Engine) -> WSGIServer:
    """Serve ``/metrics`` on ``[metrics] listen`` in a daemon thread; ``shutdown()`` stops it."""
    from prometheus_client import start_http_server

    listen = settings.metrics.listen
    assert listen is not None
    host, _, port = listen.rpartition(":")
    registry = CollectorRegistry(auto_describe=True)
    registry.register(_Forward(REGISTRY))
    registry.register(DatabaseFigures(settings, engine))
    server, _thread = start_http_server(int(port), addr=host.strip("[]"), registry=registry)
    return server


class _Forward(Collector):
    """The in-process counters, served next to the database figures."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield from self.registry.collect()
