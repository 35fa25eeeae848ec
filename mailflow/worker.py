"""Entry point for separate worker processes: ``dramatiq mailflow.worker``.

Reads the configuration named by MAILFLOW_CONFIG, binds the actors to the configured broker
(Redis or RabbitMQ), and leaves the rest to dramatiq's own process manager.
"""

from __future__ import annotations

import logging

from mailflow.config import load_settings
from mailflow.runtime import Runtime

for _noisy in ("mail.log",):
    logging.getLogger(_noisy).setLevel(logging.WARNING)

runtime = Runtime.build(load_settings()).install()
broker = runtime.broker
