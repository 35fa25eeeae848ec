"""The deadlines queue: check the manuals' deadlines once.

``mailflow serve`` sends this actor a message once a minute; whichever worker takes it (in process,
or one of many on a broker) runs the check. A check is idempotent (each deadline fires once per
case under a unique key), so two schedulers or a redelivered message change nothing. The alerts
and reminders it queues leave with the outbox sweep, like every other queued mail.
"""

from __future__ import annotations

import dramatiq

from mailflow.actors.room import room


@dramatiq.actor(queue_name="deadlines", max_retries=3, min_backoff=5_000, time_limit=300_000)
def check_deadlines() -> None:
    room().check_deadlines()
