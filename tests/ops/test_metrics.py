"""The Prometheus endpoint of ``mailflow serve`` (``[metrics] listen``): a real ``mailflow serve``
process on free loopback ports, mail over SMTP, and ``/metrics`` scraped over HTTP. Its figures
are those of ``mailflow status`` (read from the database on each scrape), and the counters and
latency histograms of intake, processing and delivery move as mail goes through.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import MAILFLOW, run
from tests.support.mail import report
from tests.support.sink import free_port
from tests.support.stack import make_settings, send, write_config


def scrape(port: int) -> tuple[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        body = response.read().decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }
    return body, samples


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, int, int]]:
    smtp, metrics = free_port(), free_port()
    settings = make_settings(
        tmp_path, None, intake={"smtp_listen": f"127.0.0.1:{smtp}", "lmtp_listen": ""},
        metrics={"listen": f"127.0.0.1:{metrics}"},
    )  # fmt: skip
    config = write_config(tmp_path / "mailflow.toml", settings)
    env = {k: v for k, v in os.environ.items() if k != "MAILFLOW_CONFIG"}
    serve = subprocess.Popen([*MAILFLOW, "serve", "--config", str(config)], stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert serve.poll() is None, serve.stderr.read().decode() if serve.stderr else ""
            try:
                scrape(metrics)
                break
            except OSError:
                assert time.monotonic() < deadline, "serve did not serve metrics on the configured port"
                time.sleep(0.2)
        yield config, smtp, metrics
    finally:
        serve.send_signal(signal.SIGTERM)
        _, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err.decode()
    assert b"jane" not in err  # nothing of the mail in the log


def test_metrics_say_what_status_says_and_count_the_work(served: tuple[Path, int, int]) -> None:
    config, smtp, port = served
    _, first = scrape(port)
    assert first[("mailflow_database_up", ())] == 1
    assert first[("mailflow_inbound_waiting", ())] == 0
    assert first[("mailflow_intake_messages_total", ())] == 0

    # When three reports and one message that cannot be parsed arrive
    for n in range(3):
        send(
            smtp, report(subject=f"Report {n}", sender=f"Jane {n} <jane{n}@example.net>"), sender=f"jane{n}@example.net"
        )
    send(smtp, b"\x00\x01 not a message \xff\r\n", sender="noise@example.net")

    def settled() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        deadline = time.monotonic() + 60
        while True:
            _, samples = scrape(port)
            done = samples.get(("mailflow_processed_messages_total", (("state", "processed"),)), 0) >= 3
            sent = samples.get(("mailflow_outbox_messages", (("state", "sent"),)), 0) >= 6
            if done and sent and samples[("mailflow_inbound_waiting", ())] == 0:
                return samples
            assert time.monotonic() < deadline, "the service did not finish its work"
            time.sleep(0.2)

    samples = settled()
    body, _ = scrape(port)
    status = json.loads(run(config, "status", "--json").stdout)

    # Then the database figures are status's figures
    assert samples[("mailflow_quarantined_messages", ())] == status["quarantined"] == 1
    assert samples[("mailflow_held_messages", ())] == status["held"] == 0
    for state, count in status["outbox"].items():
        assert samples[("mailflow_outbox_messages", (("state", state),))] == count
    assert samples[("mailflow_alerts_waiting", (("kind", "quarantined"),))] == status["alerts_waiting"]["quarantined"]
    assert samples[("mailflow_intake_space_ok", ())] == 1 and status["intake_space"]["ok"] is True
    assert samples[("mailflow_needs_a_person", ())] == 1  # the quarantined message

    # And the work was counted where it happened, with its latency
    assert samples[("mailflow_intake_messages_total", ())] == 4
    assert samples[("mailflow_processed_messages_total", (("state", "quarantined"),))] == 1
    assert samples[("mailflow_delivery_attempts_total", (("state", "sent"),))] >= 6  # acknowledgements and copies
    for histogram in ("mailflow_intake_commit_seconds", "mailflow_processing_batch_seconds",
                      "mailflow_delivery_batch_seconds"):  # fmt: skip
        assert samples[(f"{histogram}_count", ())] >= 1
        assert samples[(f"{histogram}_bucket", (("le", "+Inf"),))] == samples[(f"{histogram}_count", ())]

    # Nothing of the mail itself: no address, no subject
    assert "example.net" not in body and "Report" not in body
